"""The work order, its state machine, timeline, photos and deadlines."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkordersConfig(AppConfig):
    name = "yunbao.workorders"
    verbose_name = _("Work orders")
