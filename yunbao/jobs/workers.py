"""The task workers of each backend, run in this process (`yunbao worker` and the bench).

* database: django-tasks-db's `db_worker` loop, polling the task table.
* redis: an RQ `SimpleWorker` on the configured queues. Simple (no fork per task) because
  our tasks lean on per-process caches (the active classifier, jieba's dictionary, the
  grid index): a forked work horse would rebuild them for every task and throw them away.
  RQ still enforces each job's timeout with SIGALRM in this process.

Both stop gracefully on SIGTERM/SIGINT (the current task finishes; a second signal stops
at once) and return the number of tasks they ran.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks_db.backend import DatabaseBackend
from django_tasks_rq import RQBackend as BaseRQBackend
from rq.worker import SimpleWorker

DATABASE, REDIS, IMMEDIATE = "database", "redis", "immediate"


def backend(alias: str = DEFAULT_TASK_BACKEND_ALIAS) -> BaseTaskBackend:
    return task_backends[alias]


def kind(task_backend: BaseTaskBackend) -> str:
    """Which worker a backend needs: `database`, `redis` or `immediate` (none)."""
    if isinstance(task_backend, DatabaseBackend):
        return DATABASE
    if isinstance(task_backend, BaseRQBackend):
        return REDIS
    if isinstance(task_backend, ImmediateBackend):
        return IMMEDIATE
    raise ValueError(f"no worker for the task backend {type(task_backend).__name__}")


class CountingWorker(SimpleWorker):
    """RQ's in-process worker, counting the jobs it ran (RQ keeps its counts in Redis)."""

    ran = 0

    def execute_job(self, job: Any, queue: Any) -> Any:
        try:
            return super().execute_job(job, queue)
        finally:
            self.ran += 1


def worker_id() -> str:
    """Unique across the pool (host and process), readable in the admin and in Redis."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}"


@contextmanager
def restored_signals() -> Iterator[None]:
    """The worker libraries install their own SIGINT/SIGTERM handlers; put the previous ones
    back afterwards (tests and the bench run workers inside a longer-lived process)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run_database_worker(
    *,
    burst: bool,
    queues: Sequence[str] = ("*",),
    interval: float = 1.0,
    max_tasks: int | None = None,
    alias: str = DEFAULT_TASK_BACKEND_ALIAS,
) -> int:
    """django-tasks-db's worker loop; in burst mode it stops when the queue is empty."""
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=list(queues),
        interval=interval,
        batch=burst,
        backend_name=alias,
        # The random start-up delay spreads a fleet's first polls; a burst wants none.
        startup_delay=not burst,
        max_tasks=max_tasks,
        worker_id=worker_id(),
        excluded_queue_names=[],
    )
    with restored_signals():
        worker.configure_signals()
        try:
            worker.run()
        except SystemExit as stop:
            # db_worker exits from its signal handler when idle; that is our graceful stop.
            if stop.code not in (None, 0):
                raise
    return worker._run_tasks


def run_redis_worker(
    *,
    burst: bool,
    queues: Sequence[str] = (),
    max_tasks: int | None = None,
    logging_level: str = "INFO",
    alias: str = DEFAULT_TASK_BACKEND_ALIAS,
) -> int:
    """An RQ worker on `queues` (default: the backend's); burst mode drains and returns."""
    import django_rq

    from yunbao.jobs.backends import Job

    names = list(queues) or sorted(backend(alias).queues)
    # django-rq's annotation names rq's forking Worker; any BaseWorker subclass works.
    worker_class: Any = CountingWorker
    worker: Any = django_rq.get_worker(
        *names, job_class=Job, worker_class=worker_class, name=worker_id()
    )
    with restored_signals():
        # with_scheduler: RQ's own scheduler moves tasks enqueued with `run_after` onto the
        # queue when due (a separate process, or one pass in burst mode).
        worker.work(
            burst=burst, with_scheduler=True, max_jobs=max_tasks, logging_level=logging_level
        )
    return int(worker.ran)


def quiet_rq_logging() -> None:
    """RQ logs every job at INFO; the bench and tests want only trouble."""
    logging.getLogger("rq.worker").setLevel(logging.WARNING)
