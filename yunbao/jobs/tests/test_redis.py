"""The Redis backend against the real local Redis server: enqueue, run with the RQ worker
(in this process, burst mode), read the result; pushes wait for the transaction's commit;
the scheduler claims, pushes and records the RQ job.

Runs on a dedicated Redis database (TEST_REDIS_URL, default db 15) and a queue named after
this process, whose keys are deleted afterwards. Skipped when no Redis answers, except with
CI=true, where Redis is required.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation
from django_tasks import TaskResultStatus, task_backends

from yunbao.jobs.models import ScheduledRun
from yunbao.jobs.schedule import Periodic
from yunbao.jobs.scheduler import Scheduler
from yunbao.jobs.tasks import echo_task
from yunbao.jobs.workers import run_redis_worker

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"CI=true: Redis is required at {REDIS_URL}: {exc}") from exc
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({exc}); set TEST_REDIS_URL")
    return client


@pytest.fixture
def queue(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A queue of this test's own on the Redis backend; its keys removed afterwards."""
    client = _redis()
    name = f"yunbao-test-{os.getpid()}"
    settings.TASKS = {"default": {"BACKEND": "yunbao.jobs.backends.RQBackend", "QUEUES": [name]}}
    # "default" too: django-tasks-rq reads results through the default queue's connection.
    settings.RQ_QUEUES = {name: {"URL": REDIS_URL}, "default": {"URL": REDIS_URL}}
    # The worker's Job closes "obsolete" connections between tasks; in a test that would be
    # the test's own connection, inside its transaction.
    monkeypatch.setattr("yunbao.jobs.backends.close_old_connections", lambda: None)
    monkeypatch.setattr(
        "yunbao.jobs.tasks.echo_task", echo_task.using(queue_name=name), raising=True
    )
    try:
        yield name
    finally:
        for key in client.scan_iter(f"*{name}*"):
            client.delete(key)
        client.srem("rq:queues", f"rq:queue:{name}")
        client.close()


def _delete_jobs(ids: list[str]) -> None:
    client = _redis()
    for job_id in ids:
        for key in client.scan_iter(f"rq:*{job_id}*"):
            client.delete(key)
    client.close()


@pytest.mark.django_db
def test_a_task_runs_through_redis_and_the_rq_worker(
    queue: str, django_capture_on_commit_callbacks: Any
) -> None:
    import django_rq

    task = echo_task.using(queue_name=queue)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = task.enqueue(5)
        # Inside the transaction nothing is in Redis yet: the push waits for the commit.
        assert django_rq.get_queue(queue).count == 0
    assert len(callbacks) == 1
    assert django_rq.get_queue(queue).count == 1
    try:
        assert run_redis_worker(burst=True, logging_level="WARNING") == 1

        done = task_backends["default"].get_result(result.id)
        assert done.status == TaskResultStatus.SUCCESSFUL
        assert done.return_value == 5
        assert django_rq.get_queue(queue).count == 0
    finally:
        _delete_jobs([result.id])


@pytest.mark.django_db
def test_a_rolled_back_transaction_pushes_nothing(
    queue: str, django_capture_on_commit_callbacks: Any
) -> None:
    import django_rq

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        echo_task.using(queue_name=queue).enqueue(1)
    # The callbacks were never run: that is what a rollback does.
    assert len(callbacks) == 1
    assert django_rq.get_queue(queue).count == 0


@pytest.mark.django_db(transaction=True)  # the scheduler runs in autocommit, as in production
def test_the_worker_command_drains_the_redis_queue(
    queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    periodic = Periodic("redis-ping", "yunbao.jobs.tasks.echo_task", every=timedelta(minutes=1))
    schedule = {"redis-ping": periodic}
    monkeypatch.setattr("yunbao.jobs.scheduler.SCHEDULE", schedule)

    out = StringIO()
    with translation.override("en"):
        call_command("worker", "--burst", "--verbosity", "0", stdout=out)

    # The scheduler claimed the slot, pushed outside any transaction, recorded the job id;
    # the worker then ran that job.
    run = ScheduledRun.objects.get(name="redis-ping")
    try:
        assert "Enqueued 1 periodic tasks, ran 1 tasks." in out.getvalue()
        assert run.enqueued_at is not None
        done = task_backends["default"].get_result(run.task_id)
        assert done.status == TaskResultStatus.SUCCESSFUL
        # Another scheduler in the same slot does nothing.
        assert Scheduler(schedule).tick() == []
    finally:
        _delete_jobs([run.task_id])
