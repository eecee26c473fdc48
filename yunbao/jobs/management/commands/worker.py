"""`yunbao worker`: run background tasks and the periodic scheduler, until told to stop.

The worker of the configured backend (TASK_BACKEND: `db_worker`'s loop for `database`, an
RQ worker for `redis`) runs in the main thread, where it owns SIGTERM/SIGINT: the task in
hand finishes, then the command returns (a second signal stops at once). The scheduler
ticks in a thread beside it and is stopped and joined when the worker returns, so one
process, one supervisor entry (`yunbao serve --with-worker`, systemd, a container) covers
both. Every worker runs a scheduler; the `ScheduledRun` rows keep each run to one enqueue.

`--burst` (alias `--once`) makes one scheduler pass, runs every task queued and exits:
for cron-style deployments, tests and the bench.
"""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from yunbao.jobs import workers
from yunbao.jobs.scheduler import Scheduler, start_thread


class Command(BaseCommand):
    help = _(
        "Run background tasks (database or Redis backend, by TASK_BACKEND) and the periodic "
        "scheduler; stops gracefully on SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--no-scheduler",
            action="store_false",
            dest="scheduler",
            help=_("Run tasks only; do not enqueue periodic tasks from this process."),
        )
        parser.add_argument(
            "--burst",
            "--once",
            action="store_true",
            dest="burst",
            help=_("Enqueue the periodic tasks due now, run every queued task, then exit."),
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help=_("A queue to take tasks from (repeatable; default: all of the backend's)."),
        )
        parser.add_argument(
            "--max-tasks",
            type=int,
            help=_("Exit after running this many tasks."),
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help=_("Database backend: seconds between looks at an empty queue (default 1)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        burst: bool = options["burst"]
        with_scheduler: bool = options["scheduler"]
        queues: list[str] = options["queues"] or []
        max_tasks: int | None = options["max_tasks"]
        interval: float = options["interval"]
        if max_tasks is not None and max_tasks < 1:
            raise CommandError(_("--max-tasks must be at least 1."))
        if interval <= 0:
            raise CommandError(_("--interval must be more than 0 seconds."))
        tick: float = settings.YUNBAO_SCHEDULER_TICK_SECONDS
        if tick <= 0:
            raise CommandError(_("SCHEDULER_TICK_SECONDS must be more than 0."))
        try:
            kind = workers.kind(workers.backend())
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if kind == workers.IMMEDIATE and not with_scheduler:
            raise CommandError(
                _(
                    "TASK_BACKEND is `immediate`: tasks run where they are enqueued, so a "
                    "worker without its scheduler has nothing to do."
                )
            )
        scheduler = Scheduler() if with_scheduler else None
        run: dict[str, Any] = {
            "queues": queues,
            "max_tasks": max_tasks,
            "interval": interval,
            "verbosity": options["verbosity"],
        }
        self.stdout.write(
            _("Worker: %(kind)s backend, scheduler %(state)s%(burst)s.")
            % {
                "kind": kind,
                "state": _("on") if scheduler else _("off"),
                "burst": _(", burst") if burst else "",
            }
        )
        if burst:
            # One pass first, so the tasks it enqueues run in this burst too; in this thread,
            # which also keeps tests on their own database connection.
            due = scheduler.tick() if scheduler else []
            ran = self.run_worker(kind, burst=True, **run)
            self.stdout.write(
                _("Enqueued %(due)d periodic tasks, ran %(ran)d tasks.")
                % {"due": len(due), "ran": ran}
            )
            return
        stop = threading.Event()
        thread = start_thread(scheduler, stop) if scheduler else None
        try:
            if kind == workers.IMMEDIATE:
                self.wait_for_signal(stop)
            else:
                self.run_worker(kind, burst=False, **run)
        finally:
            stop.set()
            if thread is not None:
                # A tick takes milliseconds; the wait for the next one ends at once on `stop`.
                thread.join(timeout=30)
        self.stdout.write(_("Worker stopped."))

    def run_worker(
        self,
        kind: str,
        *,
        burst: bool,
        queues: list[str],
        max_tasks: int | None,
        interval: float,
        verbosity: int,
    ) -> int:
        if kind == workers.DATABASE:
            return workers.run_database_worker(
                burst=burst, queues=queues or ["*"], interval=interval, max_tasks=max_tasks
            )
        if kind == workers.REDIS:
            level = "WARNING" if verbosity < 1 else "INFO"
            return workers.run_redis_worker(
                burst=burst, queues=queues, max_tasks=max_tasks, logging_level=level
            )
        return 0  # immediate: every task already ran when it was enqueued

    def wait_for_signal(self, stop: threading.Event) -> None:
        """The immediate backend has no worker loop: wait for SIGTERM/SIGINT ourselves."""
        with workers.restored_signals():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda signum, frame: stop.set())
            while not stop.wait(1.0):
                pass
