"""Top-level URL map: admin, auth pages and each app's pages."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from yunbao.api import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("yunbao.web.urls")),
    path("orders/", include("yunbao.workorders.urls")),
    path("dispatch/console/", include("yunbao.dispatch.urls_console")),
    path("dispatch/", include("yunbao.dispatch.urls")),
    path("field/", include("yunbao.field.urls")),
    path("notify/", include("yunbao.notify.urls")),
    path("qr/", include("yunbao.intake.urls_qr")),
    path("fleet/", include("yunbao.fleet.urls")),
    path("insight/", include("yunbao.insight.urls")),
    path("community/", include("yunbao.community.urls")),
    path("public/", include("yunbao.insight.views_public")),
    path("open311/v2/", include("yunbao.open311.urls")),
    path("api/v1/", api.urls),
    path("", include("yunbao.intake.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
