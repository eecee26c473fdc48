"""Background jobs app."""

from datetime import time

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "yunbao.jobs"
    verbose_name = _("Background jobs")

    def ready(self) -> None:
        from yunbao.jobs.schedule import register

        # After the nightly retraining (03:00), before the working day.
        register("jobs-prune", "yunbao.jobs.tasks.prune_task", daily_at=time(4, 30))
