"""`yunbao simulate-fleet`: drive simulated vehicles along the demo district's streets and
send their positions to a running gateway (JT/T 808 or OsmAnd), for demos and load tests.
See `yunbao.fleet.simulate`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from yunbao.fleet.gateway import new_event_loop
from yunbao.fleet.simulate import SimulationConfig, Summary, demo_streets, simulate


class Command(BaseCommand):
    help = _(
        "Simulate a fleet driving along the demo district's streets, sending real JT/T 808 "
        "or OsmAnd traffic to the gateway; prints progress and a summary."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Our --version (the JT/T 808 edition) replaces Django's (the Django version).
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--devices", type=int, default=10, help=_("simulated vehicles"))
        parser.add_argument(
            "--rate", type=float, default=1.0, help=_("positions per second per vehicle")
        )
        parser.add_argument(
            "--protocol", choices=["jt808", "osmand"], default="jt808", help=_("protocol")
        )
        parser.add_argument("--host", help=_("gateway address (default: FLEET_GATEWAY_HOST)"))
        parser.add_argument(
            "--port",
            type=int,
            help=_("gateway port (default: FLEET_JT808_PORT or FLEET_OSMAND_PORT)"),
        )
        parser.add_argument(
            "--duration", type=float, help=_("seconds to run (default: until Ctrl-C)")
        )
        parser.add_argument(
            "--version",
            dest="jt808_version",
            type=int,
            choices=[2013, 2019],
            default=2013,
            help=_("JT/T 808 edition"),
        )
        parser.add_argument("--seed", type=int, default=1, help=_("random seed"))

    def handle(self, *args: Any, **options: Any) -> None:
        protocol: str = options["protocol"]
        default_port = (
            settings.YUNBAO_FLEET_JT808_PORT
            if protocol == "jt808"
            else settings.YUNBAO_FLEET_OSMAND_PORT
        )
        host = options["host"] or settings.YUNBAO_FLEET_GATEWAY_HOST
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 (we connect, never bind)
            host = "127.0.0.1"
        config = SimulationConfig(
            host=host,
            port=options["port"] or default_port,
            protocol=protocol,
            devices=options["devices"],
            rate=options["rate"],
            duration=options["duration"],
            version=options["jt808_version"],
            seed=options["seed"],
        )
        if config.devices < 1:
            raise CommandError(_("--devices must be at least 1."))
        if not config.rate > 0:
            raise CommandError(_("--rate must be more than 0."))
        if config.duration is not None and not config.duration > 0:
            raise CommandError(_("--duration must be more than 0 seconds."))
        streets = demo_streets()
        self.stdout.write(
            _(
                "Simulating %(devices)d vehicles (%(protocol)s, %(rate)g positions/s each) on "
                "%(towns)d towns' streets → %(host)s:%(port)d"
            )
            % {
                "devices": config.devices,
                "protocol": protocol,
                "rate": config.rate,
                "towns": len(streets),
                "host": config.host,
                "port": config.port,
            }
        )
        summary = self._run(config, streets)
        p50, p99 = summary.percentile(0.5), summary.percentile(0.99)
        self.stdout.write(
            _(
                "Done: %(sent)d positions sent, %(acked)d acknowledged, %(refused)d refused, "
                "%(errors)d connection errors; ack latency p50 %(p50)s, p99 %(p99)s."
            )
            % {
                "sent": summary.sent,
                "acked": summary.acked,
                "refused": summary.refused,
                "errors": summary.errors,
                "p50": "-" if p50 is None else f"{p50 * 1000:.1f} ms",
                "p99": "-" if p99 is None else f"{p99 * 1000:.1f} ms",
            }
        )
        if summary.last_error:
            self.stdout.write(_("Last error: %(error)s") % {"error": summary.last_error})

    def _run(self, config: SimulationConfig, streets: list[Any]) -> Summary:
        async def main() -> Summary:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            return await simulate(
                config, streets, progress=lambda line: self.stdout.write(f"  {line}"), stop=stop
            )

        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(main())
