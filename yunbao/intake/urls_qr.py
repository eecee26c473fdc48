"""QR codes and posters, included under "qr/" by the top-level URL map."""

from django.urls import path

from yunbao.intake import qr_views

urlpatterns = [
    path("", qr_views.qr_index, name="qr-index"),
    path("area/<str:code>.png", qr_views.area_qr_png, name="qr-area-png"),
    path("area/<str:code>/poster.png", qr_views.area_poster_png, name="qr-area-poster-png"),
    path("area/<str:code>/poster/", qr_views.area_poster, name="qr-area-poster"),
    path("unit/<str:code>.png", qr_views.unit_qr_png, name="qr-unit-png"),
    path("unit/<str:code>/poster.png", qr_views.unit_poster_png, name="qr-unit-poster-png"),
    path("unit/<str:code>/poster/", qr_views.unit_poster, name="qr-unit-poster"),
]
