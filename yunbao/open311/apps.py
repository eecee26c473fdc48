"""Open311 GeoReport v2 adapter app."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Open311Config(AppConfig):
    name = "yunbao.open311"
    verbose_name = _("Open311")

    def ready(self) -> None:
        # Registers the Open311 panel on the order page (workorders cannot import open311).
        from yunbao.open311 import panels  # noqa: F401
