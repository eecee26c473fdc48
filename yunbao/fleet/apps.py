"""Fleet app: vehicle terminals (JT/T 808), phone trackers and badges (OsmAnd), their
positions, attendance and coverage, and the `yunbao gateway` process that receives them."""

from datetime import time, timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FleetConfig(AppConfig):
    name = "yunbao.fleet"
    verbose_name = _("Fleet and attendance")

    def ready(self) -> None:
        from yunbao.jobs.schedule import register

        # Partitions for the coming days (also made at gateway start) and retention; daily,
        # just after local midnight, when the day that ended is complete.
        register(
            "fleet-positions", "yunbao.fleet.tasks.maintain_positions_task", daily_at=time(0, 20)
        )
        # Someone who leaves their area during a shift is noticed within a couple of minutes.
        register(
            "fleet-attendance",
            "yunbao.fleet.tasks.attendance_alerts_task",
            every=timedelta(minutes=1),
        )
