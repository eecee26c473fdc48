"""`yunbao generate-orders --count N [--seed S]`: realistic order history for benchmarks."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from yunbao.insight.generate import generate


class Command(BaseCommand):
    help = (
        "Write N orders of realistic history (bulk inserts, not actions) and add them to the "
        "indicator aggregates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True, help="orders to generate")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--days", type=int, default=365, help="history span (default 365)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["count"] < 1 or options["days"] < 1:
            self.stderr.write("--count and --days must be at least 1")
            raise SystemExit(2)
        quiet = options["verbosity"] == 0
        figures = generate(
            options["count"],
            seed=options["seed"],
            days=options["days"],
            progress=(lambda _m: None) if quiet else self.stdout.write,
        )
        if not quiet:
            self.stdout.write(f"statuses: {figures['statuses']}")
