"""`yunbao.jobs.backends.DatabaseBackend`: the library's row and result, built once.

The backend's `enqueue` writes django-tasks-db's own row in the caller's transaction and
returns the `TaskResult` the library would have built from that row; a worker runs it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task_backends
from django_tasks.signals import task_enqueued
from django_tasks_db.models import DBTaskResult, get_date_max

from yunbao.jobs.backends import DatabaseBackend
from yunbao.jobs.tasks import echo_task
from yunbao.jobs.workers import DATABASE, kind

TASKS = {"default": {"BACKEND": "yunbao.jobs.backends.DatabaseBackend"}}


@pytest.fixture
def lean(settings: Any) -> DatabaseBackend:
    settings.TASKS = TASKS
    backend = task_backends["default"]
    assert isinstance(backend, DatabaseBackend)
    return backend


def _fields(result: Any) -> dict[str, Any]:
    return {
        name: getattr(result, name)
        for name in (
            "id",
            "status",
            "enqueued_at",
            "started_at",
            "last_attempted_at",
            "finished_at",
            "args",
            "kwargs",
            "backend",
            "errors",
            "worker_ids",
            "return_value",
        )
        if name != "return_value" or result.is_finished
    }


@pytest.mark.django_db
def test_enqueue_returns_what_the_library_builds_from_the_row(lean: DatabaseBackend) -> None:
    seen: list[Any] = []

    def on_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
        seen.append(task_result)

    task_enqueued.connect(on_enqueued)
    try:
        result = echo_task.enqueue(7)
    finally:
        task_enqueued.disconnect(on_enqueued)
    row = DBTaskResult.objects.get(pk=result.id)
    library = row.task_result
    assert _fields(result) == _fields(library)
    assert result.task == library.task
    assert result.status == TaskResultStatus.READY
    assert result.args == [7]
    assert result.kwargs == {}
    # The library's pre_save handler still fills in "no delay".
    assert row.run_after == get_date_max()
    assert seen == [result]
    assert kind(lean) == DATABASE  # type: ignore[arg-type]


@pytest.mark.django_db
def test_a_deferred_task_keeps_its_time(lean: DatabaseBackend) -> None:
    later = timezone.now() + timedelta(hours=1)
    result = echo_task.using(run_after=later, priority=5).enqueue(1)
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.run_after == later
    assert row.priority == 5
    assert result.task == row.task_result.task
    assert result.task.run_after == later


@pytest.mark.django_db(transaction=True)
def test_the_row_commits_or_rolls_back_with_the_caller(lean: DatabaseBackend) -> None:
    enqueued: list[str] = []

    def failing_order() -> None:
        with transaction.atomic():
            enqueued.append(echo_task.enqueue(1).id)
            raise RuntimeError("the order failed")

    with pytest.raises(RuntimeError):
        failing_order()
    assert len(enqueued) == 1
    assert not DBTaskResult.objects.filter(pk=enqueued[0]).exists()
    with transaction.atomic():
        kept = echo_task.enqueue(2)
    assert DBTaskResult.objects.filter(pk=kept.id).exists()


@pytest.mark.django_db
def test_a_worker_runs_what_it_enqueued(
    lean: DatabaseBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.management import call_command

    # As in test_worker: the test's own connection, inside its transaction, must stay open.
    monkeypatch.setattr(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    )
    result = echo_task.enqueue(41)
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 41
