"""Intake: the report page and API, photos, QR entry points, idempotency and duplicates."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "yunbao.intake"
    verbose_name = _("Intake")

    def ready(self) -> None:
        # Registers intake's panel on the order page (workorders cannot import intake).
        from yunbao.intake import panels  # noqa: F401
