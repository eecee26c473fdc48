"""Time limits (SLA) app."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "yunbao.sla"
    verbose_name = _("Time limits")
