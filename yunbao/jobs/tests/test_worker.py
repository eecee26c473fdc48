"""`yunbao worker`: the database backend end to end, its options, the periodic pass of a
burst, a graceful stop on SIGTERM, `yunbao schedule`, pruning and the read-only admin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time as clock
from datetime import time, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone, translation
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from yunbao.conf import BASE_DIR
from yunbao.jobs import schedule as schedule_module
from yunbao.jobs.models import ScheduledRun
from yunbao.jobs.schedule import Periodic
from yunbao.jobs.tasks import echo_task, prune_task

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def worker(*args: str) -> str:
    out = StringIO()
    with translation.override("en"):  # the assertions read the English messages
        call_command("worker", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def database_backend(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.TASKS = DATABASE_TASKS
    # The worker drops "obsolete" connections between tasks, as Django does between
    # requests; the test's own connection, inside the test's transaction, must stay.
    monkeypatch.setattr(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    )


@pytest.fixture
def only(monkeypatch: pytest.MonkeyPatch) -> dict[str, Periodic]:
    """A schedule of the test's own (the apps' nightly jobs left out)."""
    mine: dict[str, Periodic] = {}
    monkeypatch.setattr(schedule_module, "SCHEDULE", mine)
    monkeypatch.setattr("yunbao.jobs.scheduler.SCHEDULE", mine)
    monkeypatch.setattr("yunbao.jobs.management.commands.schedule.SCHEDULE", mine)
    return mine


@pytest.mark.django_db
def test_the_database_worker_runs_queued_tasks_and_stops_when_empty(database_backend: None) -> None:
    results = [echo_task.enqueue(n) for n in (7, 8, 9)]
    assert DBTaskResult.objects.ready().count() == 3

    out = worker("--burst", "--no-scheduler")

    assert "ran 3 tasks" in out
    for result, expected in zip(results, (7, 8, 9), strict=True):
        result.refresh()
        assert result.status == TaskResultStatus.SUCCESSFUL
        assert result.return_value == expected
    assert not DBTaskResult.objects.ready().exists()


@pytest.mark.django_db
def test_max_tasks_leaves_the_rest_queued(database_backend: None) -> None:
    for n in range(3):
        echo_task.enqueue(n)

    out = worker("--once", "--no-scheduler", "--max-tasks", "2")

    assert "ran 2 tasks" in out
    assert DBTaskResult.objects.ready().count() == 1


@pytest.mark.django_db
def test_a_burst_enqueues_the_due_periodic_tasks_and_runs_them(
    database_backend: None, only: dict[str, Periodic]
) -> None:
    only["ping"] = Periodic("ping", "yunbao.jobs.tasks.echo_task", every=timedelta(minutes=1))

    out = worker("--burst")

    assert "Enqueued 1 periodic tasks, ran 1 tasks." in out
    run = ScheduledRun.objects.get(name="ping")
    task = DBTaskResult.objects.get(id=run.task_id)
    assert task.status == TaskResultStatus.SUCCESSFUL
    # Within the same minute, a second burst finds the slot taken.
    assert "Enqueued 0 periodic tasks, ran 0 tasks." in worker("--burst")


@pytest.mark.django_db
def test_the_immediate_backend_needs_the_scheduler(only: dict[str, Periodic]) -> None:
    with pytest.raises(CommandError, match="nothing to do"):
        worker("--no-scheduler")
    only["ping"] = Periodic("ping", "yunbao.jobs.tasks.echo_task", every=timedelta(minutes=1))
    # Inline tasks: the periodic task ran when the scheduler enqueued it.
    assert "Enqueued 1 periodic tasks, ran 0 tasks." in worker("--burst")
    assert ScheduledRun.objects.get().enqueued_at is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-tasks", "0"], "--max-tasks"),
        (["--interval", "0"], "--interval"),
    ],
)
def test_it_refuses_bad_options(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        worker(*args)


def test_it_refuses_a_tick_of_zero(settings: Any) -> None:
    settings.YUNBAO_SCHEDULER_TICK_SECONDS = 0
    with pytest.raises(CommandError, match="SCHEDULER_TICK_SECONDS"):
        worker("--burst")


def test_it_refuses_an_unknown_option() -> None:
    with pytest.raises(CommandError):
        worker("--no-such-option")


def _database_url() -> str:
    """The test database, for a worker in another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_until_sigterm_and_then_stops_gracefully() -> None:
    env = os.environ | {
        "DATABASE_URL": _database_url(),
        "TASK_BACKEND": "database",
        "SCHEDULER_TICK_SECONDS": "0.2",
        "DJANGO_SETTINGS_MODULE": "yunbao.settings_test",
        "LANGUAGE_CODE": "en",
    }
    echo_result = DBTaskResult.objects.create(
        task_path="yunbao.jobs.tasks.echo_task",
        args_kwargs={"args": [42], "kwargs": {}},
        queue_name="default",
        backend_name="default",
        priority=0,
    )
    with subprocess.Popen(
        [sys.executable, "-m", "yunbao.cli", "worker", "--interval", "0.1"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        try:
            deadline = clock.monotonic() + 60
            # Running: it takes the queued task, and its scheduler records the nightly jobs.
            while clock.monotonic() < deadline and child.poll() is None:
                echo_result.refresh_from_db()
                recorded = ScheduledRun.objects.filter(name="jobs-prune").exists()
                if echo_result.status == TaskResultStatus.SUCCESSFUL and recorded:
                    break
                clock.sleep(0.2)
            assert child.poll() is None, "the worker ended by itself"
            assert echo_result.return_value == 42
            child.send_signal(signal.SIGTERM)
            output, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert child.returncode == 0, output
    assert "Worker stopped." in output


@pytest.mark.django_db
def test_schedule_lists_last_and_next_runs(only: dict[str, Periodic]) -> None:
    only["nightly"] = Periodic("nightly", "yunbao.jobs.tasks.prune_task", daily_at=time(3, 0))
    only["often"] = Periodic("often", "yunbao.jobs.tasks.echo_task", every=timedelta(minutes=5))
    from yunbao.jobs.scheduler import current_slot

    slot = current_slot(only["often"], timezone.now())
    ScheduledRun.objects.create(
        name="often",
        slot=slot,
        task_path="yunbao.jobs.tasks.echo_task",
        claimed_at=timezone.now(),
        enqueued_at=timezone.now(),
    )
    out = StringIO()
    with translation.override("en"):
        call_command("schedule", stdout=out)
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()[1:]}

    assert "daily at 03:00" in lines["nightly"]
    assert "never" in lines["nightly"]
    assert "due now" in lines["nightly"]
    assert "every 5 min" in lines["often"]
    next_run = timezone.localtime(slot + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    assert lines["often"].rstrip().endswith(next_run)


@pytest.mark.django_db
def test_prune_deletes_old_records_only_and_twice_is_harmless(settings: Any) -> None:
    settings.YUNBAO_JOB_HISTORY_DAYS = 7
    now = timezone.now()
    for days in (1, 8):
        ScheduledRun.objects.create(
            name="p", slot=now - timedelta(days=days), task_path="x", claimed_at=now
        )
    old = DBTaskResult.objects.create(
        task_path="yunbao.jobs.tasks.echo_task",
        args_kwargs={"args": [], "kwargs": {}},
        backend_name="default",
        status=TaskResultStatus.SUCCESSFUL,
        finished_at=now - timedelta(days=9),
    )
    queued = DBTaskResult.objects.create(
        task_path="yunbao.jobs.tasks.echo_task",
        args_kwargs={"args": [], "kwargs": {}},
        backend_name="default",
    )

    assert prune_task.call() == {"scheduled_runs": 1, "task_results": 1}
    assert prune_task.call() == {"scheduled_runs": 0, "task_results": 0}
    assert ScheduledRun.objects.count() == 1
    assert not DBTaskResult.objects.filter(pk=old.pk).exists()
    assert DBTaskResult.objects.filter(pk=queued.pk).exists()


@pytest.mark.django_db
def test_the_admin_shows_runs_read_only(admin_client: Any) -> None:
    now = timezone.now()
    ScheduledRun.objects.create(
        name="classifier-retrain", slot=now, task_path="x", claimed_at=now, enqueued_at=now
    )

    page = admin_client.get("/admin/jobs/scheduledrun/")

    assert page.status_code == 200
    assert "classifier-retrain" in page.content.decode()
    assert admin_client.get("/admin/jobs/scheduledrun/add/").status_code == 403
