"""Dispatch: recognise the category, route to the responsible unit, choose the worker on
duty, decide automatically when sure, and the dispatcher's console for everything else."""

from datetime import time

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DispatchConfig(AppConfig):
    name = "yunbao.dispatch"
    verbose_name = _("Dispatch")

    def ready(self) -> None:
        # Subscribes the automatic decision to new orders (workorders cannot import dispatch).
        from yunbao.dispatch import tasks  # noqa: F401
        from yunbao.jobs.schedule import register

        # Nightly, when nobody waits for the CPU; the task skips a night without new data.
        register("classifier-retrain", "yunbao.dispatch.tasks.retrain_task", daily_at=time(3, 0))
