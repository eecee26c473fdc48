"""`yunbao recompute-indicators`: rebuild the indicator aggregates from the orders."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from yunbao.insight.store import recompute


class Command(BaseCommand):
    help = "Rebuild the indicator aggregates from every order and its timeline."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        done = recompute(progress=self._progress if options["verbosity"] > 1 else None)
        self.stdout.write(
            f"recomputed the indicators of {done:,} orders in {time.perf_counter() - started:.1f} s"
        )

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
