"""`yunbao demo`: load the demo district, its people and a few thousand orders (idempotent)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from yunbao.web import demo


class Command(BaseCommand):
    # Translated when the command is loaded (after Django set up), argparse needs a str.
    help = _("Build the demo district (areas, units, staff, rosters, orders); safe to re-run.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orders", type=int, default=3000, help=_("orders to generate"))
        parser.add_argument("--seed", type=int, default=7, help=_("random seed"))

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        summary = demo.load(
            orders=options["orders"],
            seed=options["seed"],
            progress=lambda line: self.stdout.write(f"  {line}"),
        )
        from yunbao.open311.demo import ensure_demo_client  # every run: `make run` shows it

        if open311_key := ensure_demo_client():
            self.stdout.write(_("Open311 API key: %(key)s") % {"key": open311_key})
        if not (summary.areas or summary.users or summary.orders):
            self.stdout.write(_("Demo district already loaded; nothing to add."))
            return
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Demo loaded in %(seconds).0f s: %(areas)d areas, %(users)d users, "
                    "%(orders)d orders."
                )
                % {
                    "seconds": time.monotonic() - started,
                    "areas": summary.areas,
                    "users": summary.users,
                    "orders": summary.orders,
                }
            )
        )
