"""`yunbao serve`: collect static files, then replace this process with gunicorn.

The process is replaced (exec), not wrapped, so gunicorn's master receives the supervisor's
signals (SIGTERM for a graceful stop, SIGHUP to reload) directly and `make run` needs no
second process to clean up. In demo mode the demo users and their password are printed first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.translation import gettext as _

from yunbao.org.roles import roles_of

WSGI_APP = "yunbao.wsgi:application"
DEMO_USER_PREFIX = "demo-"
# Seconds workers get to finish in-flight requests after SIGTERM before they are killed;
# gunicorn's own default, made explicit so a supervisor's stop timeout can be set above it.
GRACEFUL_TIMEOUT = 30
# Seconds a worker may spend on one request before gunicorn restarts it (its default is 30):
# an XLSX export of tens of thousands of orders is written inside the request.
REQUEST_TIMEOUT = 120
# Addresses that mean "every interface": a browser must be sent to the loopback instead.
_ANY_HOST = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 (we only read these, never bind)


def gunicorn_path() -> Path:
    """The gunicorn installed beside this Python (the virtualenv's bin/), not any on PATH."""
    return Path(sys.executable).parent / "gunicorn"


def gunicorn_argv(bind: str, workers: int) -> list[str]:
    """The command line that serves Yunbao with gunicorn."""
    return [
        str(gunicorn_path()),
        WSGI_APP,
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--access-logfile",
        "-",  # stdout, where a supervisor or `make run` collects it
        "--graceful-timeout",
        str(GRACEFUL_TIMEOUT),
        "--timeout",
        str(REQUEST_TIMEOUT),
    ]


def site_url(bind: str) -> str | None:
    """The address to open in a browser for a gunicorn `bind`, None for a socket."""
    if bind.startswith(("unix:", "fd://")):
        return None
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        # No port ("localhost", "[::1]"): gunicorn listens on 8000.
        host, port = bind, "8000"
    elif ":" in host and not host.startswith("["):
        # A bare IPv6 address ("::1"): its last group is not a port.
        host, port = f"[{bind}]", "8000"
    if host in _ANY_HOST:
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


def worker_argv() -> list[str]:
    """The background task worker and periodic scheduler: `yunbao worker` with this Python."""
    return [sys.executable, "-m", "yunbao.cli", "worker"]


def gateway_argv() -> list[str]:
    """The telemetry gateway (JT/T 808, OsmAnd): `yunbao gateway` with this Python."""
    return [sys.executable, "-m", "yunbao.cli", "gateway"]


def supervise(commands: list[list[str]]) -> int:
    """Run the commands side by side; when one ends or we are told to stop, stop them all.

    Ctrl-C or SIGTERM reaches this process; each child is stopped with SIGTERM and given
    30 s (gunicorn finishes its requests, the worker its task) before SIGKILL.
    """
    children = [subprocess.Popen(argv) for argv in commands]  # noqa: S603 (our own programs)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    return max((child.returncode or 0) for child in children) if not stopping else 0


class Command(BaseCommand):
    # Translated when the command is loaded (after Django set up), argparse needs a str.
    help = _(
        "Serve Yunbao with gunicorn (collects static files first unless DEBUG); "
        "in demo mode, print the demo users and password."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--bind",
            help=_("Address to listen on, HOST:PORT or unix:PATH (default: BIND, now %(bind)s).")
            % {"bind": settings.YUNBAO_BIND},
        )
        parser.add_argument(
            "--workers",
            type=int,
            help=_("Number of worker processes (default: WEB_WORKERS, now %(workers)d).")
            % {"workers": settings.YUNBAO_WEB_WORKERS},
        )
        parser.add_argument(
            "--with-worker",
            action="store_true",
            help=_(
                "Also run the background task worker and scheduler (yunbao worker) and stop "
                "both together."
            ),
        )
        parser.add_argument(
            "--with-gateway",
            action="store_true",
            help=_(
                "Also run the telemetry gateway (yunbao gateway: JT/T 808 and OsmAnd) and stop "
                "it together with the web server."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bind: str = options["bind"] or settings.YUNBAO_BIND
        workers: int = (
            options["workers"] if options["workers"] is not None else settings.YUNBAO_WEB_WORKERS
        )
        if workers < 1:
            raise CommandError(
                _("--workers must be at least 1, not %(workers)d.") % {"workers": workers}
            )
        executable = gunicorn_path()
        if not executable.exists():
            raise CommandError(
                _(
                    "gunicorn is not installed at %(path)s; install Yunbao's dependencies "
                    "(make install)."
                )
                % {"path": executable}
            )
        if not settings.DEBUG:
            # Without DEBUG, static files come from STATIC_ROOT via WhiteNoise, so they must
            # be collected from the code being served now, not a previous version.
            call_command("collectstatic", interactive=False, verbosity=options["verbosity"])
        if settings.DEMO:
            self.print_demo(bind)
        argv = gunicorn_argv(bind, workers)
        # exec discards this process's buffers: write out what we printed before it.
        self.stdout.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        if options["with_worker"] or options["with_gateway"]:
            extra = [worker_argv()] if options["with_worker"] else []
            extra += [gateway_argv()] if options["with_gateway"] else []
            sys.exit(supervise([argv, *extra]))
        os.execvp(argv[0], argv)  # noqa: S606 (a fixed program with our own arguments)

    def print_demo(self, bind: str) -> None:
        url = site_url(bind)
        self.stdout.write(self.style.WARNING(_("Demo mode: never use it on a public server.")))
        try:
            users = list(
                get_user_model()
                .objects.filter(username__startswith=DEMO_USER_PREFIX)
                .order_by("username")
            )
        except DatabaseError:
            # A fresh checkout before `migrate`: say what to do instead of a traceback.
            self.stdout.write(_("No database tables yet: run `yunbao migrate` and `yunbao demo`."))
            users = []
        if users:
            width = max(len(user.get_username()) for user in users)
            self.stdout.write(
                _("Demo users (password: %(password)s):")
                % {"password": settings.YUNBAO_DEMO_PASSWORD}
            )
            for user in users:
                roles = ", ".join(sorted(roles_of(user))) or "-"
                self.stdout.write(f"  {user.get_username():<{width}}  {roles}")
        else:
            self.stdout.write(_("No demo users yet: run `yunbao demo` to create them."))
        self.stdout.write(
            _("Open %(url)s") % {"url": url} if url else _("Listening on %(bind)s") % {"bind": bind}
        )
