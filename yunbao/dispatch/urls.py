"""Dispatch pages."""

from django.urls import path

from yunbao.dispatch import views

urlpatterns = [
    path("where/", views.where, name="dispatch-where"),
]
