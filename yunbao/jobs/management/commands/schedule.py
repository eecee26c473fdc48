"""`yunbao schedule`: the periodic tasks, when each last ran and when it runs next."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.jobs.models import ScheduledRun
from yunbao.jobs.schedule import SCHEDULE, Periodic
from yunbao.jobs.scheduler import current_slot, next_slot


def describe(periodic: Periodic) -> str:
    if periodic.daily_at is not None:
        return _("daily at %(time)s") % {"time": periodic.daily_at.strftime("%H:%M")}
    assert periodic.every is not None
    seconds = int(periodic.every.total_seconds())
    if seconds % 3600 == 0:
        return _("every %(n)d h") % {"n": seconds // 3600}
    if seconds % 60 == 0:
        return _("every %(n)d min") % {"n": seconds // 60}
    return _("every %(n)d s") % {"n": seconds}


def local(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


class Command(BaseCommand):
    help = _("List the periodic tasks with their last and next run (local time).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not SCHEDULE:
            self.stdout.write(_("No periodic tasks are registered."))
            return
        now = timezone.now()
        rows = [(_("name"), _("when"), _("task"), _("last run"), _("next run"))]
        for name in sorted(SCHEDULE):
            periodic = SCHEDULE[name]
            last = ScheduledRun.objects.filter(name=name).order_by("-slot").first()
            slot = current_slot(periodic, now)
            if last is not None and last.slot >= slot:
                upcoming = local(next_slot(periodic, slot))
            else:
                # The current slot has no run yet: the next scheduler tick enqueues it.
                upcoming = _("due now")
            if last is None:
                previous = _("never")
            elif last.enqueued_at is None:
                previous = _("%(slot)s (claimed, not enqueued)") % {"slot": local(last.slot)}
            else:
                previous = local(last.slot)
            rows.append((name, describe(periodic), periodic.task_path, previous, upcoming))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
