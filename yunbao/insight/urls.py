"""The operations centre's pages under /insight/: the dashboard, the orders behind a figure,
the big screen and its polled JSON."""

from django.urls import URLPattern, URLResolver, path

from yunbao.insight import views, views_exports, views_report, views_screen

app_name = "insight"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("orders/", views.orders, name="orders"),
    path("screen/", views_screen.screen, name="screen"),
    path("screen.json", views_screen.screen_json, name="screen-json"),
    path("export/orders.<str:fmt>", views_exports.orders_export, name="export-orders"),
    path("export/indicators.<str:fmt>", views_exports.indicators_export, name="export-indicators"),
    path("report/", views_report.report, name="report"),
]
