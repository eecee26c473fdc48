"""Intake: the report page and API, photos, QR entry points, idempotency and duplicates."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "yunbao.intake"
    verbose_name = _("Intake")
