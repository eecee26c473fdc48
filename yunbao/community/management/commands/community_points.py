"""`yunbao community-points [--since ISO]`: derive the points now (the periodic job's work)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime


class Command(BaseCommand):
    help = "Write the points earned by valid reports and confirmed 'me too's since the last run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="reread the timeline from this time (ISO 8601)")

    def handle(self, *args: Any, since: str | None = None, **options: Any) -> None:
        from yunbao.community.points import sync_points

        start = None
        if since:
            start = parse_datetime(since)
            if start is None or start.tzinfo is None:
                raise CommandError("--since needs an ISO 8601 time with its offset")
        result = sync_points(since=start)
        self.stdout.write(
            f"reports {result.reports}, me-toos {result.me_toos}, revoked {result.revoked}"
        )
