"""Public reporting pages: report, tracking, my reports."""

from django.urls import path

from yunbao.intake import views

urlpatterns = [
    path("report/", views.report, name="intake-report"),
    path("report/sw.js", views.service_worker, name="intake-sw"),
    path("t/<str:token>/", views.track, name="intake-track"),
    path("my/", views.mine, name="intake-mine"),
]
