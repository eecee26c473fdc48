"""`yunbao sla-sweep`: run the time-limit sweep once, now, and print what it fired.

The worker runs the same sweep every minute (`sla-sweep` on the periodic schedule); this
command is for a cron-only installation, after an outage, or to see the counts by hand.
`--at 2026-10-08T16:00` sweeps as if it were that moment (local time unless an offset is
given), to check what would fire.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from yunbao.sla.sweep import sweep


class Command(BaseCommand):
    help = _("Run the time-limit sweep once: warn and escalate orders near or past deadline.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--at",
            help=_("Sweep as of this moment (ISO 8601; local time without an offset)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["at"]:
            now = parse_datetime(options["at"])
            if now is None:
                raise CommandError(_("--at: not a date and time: %(at)s") % {"at": options["at"]})
            if timezone.is_naive(now):
                now = timezone.make_aware(now)
        started = time.perf_counter()
        result = sweep(now)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            _(
                "Warnings: %(warnings)d, escalations to unit leaders: %(esc1)d, "
                "to managers: %(esc2)d, notifications: %(messages)d (%(seconds).2f s)."
            )
            % {
                "warnings": result.warnings,
                "esc1": result.escalations1,
                "esc2": result.escalations2,
                "messages": result.notifications,
                "seconds": elapsed,
            }
        )
