"""Time limits (SLA) app."""

from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "yunbao.sla"
    verbose_name = _("Time limits")

    def ready(self) -> None:
        from yunbao.jobs.schedule import register

        # Every minute: a warning or escalation is at most a minute (plus the scheduler's
        # tick) late, and a sweep with nothing to fire costs a few indexed queries.
        register("sla-sweep", "yunbao.sla.tasks.sweep_task", every=timedelta(minutes=1))
