"""`yunbao gateway`: receive positions from JT/T 808 terminals (TCP) and OsmAnd trackers
(HTTP) and store them, until SIGTERM or Ctrl-C (then it stops gracefully: everything
received is stored and acknowledged first). See `yunbao.fleet.gateway`."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from yunbao.fleet.gateway import GatewayConfig, serve


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(raw)
    return port


class Command(BaseCommand):
    help = _(
        "Run the telemetry gateway: JT/T 808 over TCP and OsmAnd over HTTP, positions stored "
        "in batches; stops gracefully on SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", help=_("Address to listen on (default: FLEET_GATEWAY_HOST)."))
        parser.add_argument(
            "--jt808-port", type=_port, help=_("JT/T 808 TCP port (default: FLEET_JT808_PORT).")
        )
        parser.add_argument(
            "--osmand-port",
            type=_port,
            help=_("OsmAnd HTTP port (default: FLEET_OSMAND_PORT)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = GatewayConfig.from_settings(
                host=options["host"],
                jt808_port=options["jt808_port"],
                osmand_port=options["osmand_port"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            serve(config)
        except OSError as exc:
            # Typically the port is taken (another gateway runs).
            raise CommandError(
                _("The gateway could not start: %(error)s") % {"error": exc}
            ) from exc
