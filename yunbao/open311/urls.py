"""Open311 GeoReport v2 routes under /open311/v2/: each resource with its format suffix."""

from django.urls import URLPattern, re_path

from yunbao.open311 import views

app_name = "open311"
FMT = r"\.(?P<fmt>[A-Za-z0-9]+)$"
urlpatterns: list[URLPattern] = [
    re_path(rf"^discovery{FMT}", views.discovery, name="discovery"),
    re_path(rf"^services{FMT}", views.services, name="services"),
    re_path(rf"^services/(?P<code>[^/]+){FMT}", views.service_definition, name="service"),
    re_path(rf"^requests{FMT}", views.service_requests, name="requests"),
    re_path(rf"^requests/(?P<request_id>[^/]+){FMT}", views.service_request, name="request"),
    re_path(rf"^tokens/(?P<token>[^/]+){FMT}", views.token, name="token"),
    re_path(rf"^servicerequestupdates{FMT}", views.updates, name="updates"),
    re_path(r"^(?P<path>.*)$", views.not_found),
]
