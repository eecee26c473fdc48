"""URLs of the notify app."""

from django.urls import URLPattern, path

from yunbao.notify import views

app_name = "notify"
urlpatterns: list[URLPattern] = [
    path("preferences/", views.preferences, name="preferences"),
]
