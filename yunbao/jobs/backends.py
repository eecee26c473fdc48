"""The Redis task backend: django-tasks-rq's `RQBackend`, made to respect transactions.

The database backend writes its task row in the caller's transaction, so a task enqueued
while an order is being written commits with the order or not at all, and no worker sees it
before the order exists. A push to Redis is not part of the database transaction: pushed at
once, a fast RQ worker could start `auto_dispatch_task` before the order it names has
committed (and find nothing), and a rolled-back transaction would leave its task queued.
So inside `atomic()` this backend pushes when the transaction commits (nothing if it rolls
back), and at once outside one. The task's id is fixed when `enqueue` returns, so the
caller's `TaskResult` names the job that is pushed later.

`Job` is the job class the worker runs (`yunbao worker` passes it to RQ): it closes stale
database connections around each task, as Django does around each request, because an RQ
worker lives for days and a connection the database dropped must not fail every task after.

`DatabaseBackend` is django-tasks-db's, with a leaner `enqueue` (every report enqueues its
automatic decision inside the order's transaction, so this runs under the write lock): the
same row, of the same model, in the caller's transaction, but the `TaskResult` is built
once from the task in hand, where the library built it twice, each time importing the task
again by its path and copying it (two thirds of the library's enqueue, measured on the
intake benchmark), and the row is written with a prepared INSERT (`yunbao.lib.rows`)
instead of the ORM's compiled one (most of the rest).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import django_rq
from django.db import close_old_connections, transaction
from django_tasks.base import TASK_MAX_PRIORITY, Task, TaskResult, TaskResultStatus
from django_tasks.signals import task_enqueued
from django_tasks.utils import get_random_id
from django_tasks_db import backend as db_backend
from django_tasks_db import compat as db_compat
from django_tasks_db.utils import normalize_uuid
from django_tasks_rq import backend as rq_backend
from rq.job import Callback, JobStatus

from yunbao.lib import rows


class Job(rq_backend.Job):
    """django-tasks-rq's job, with Django's connection hygiene around each task."""

    def perform(self) -> Any:
        close_old_connections()
        try:
            return super().perform()
        finally:
            close_old_connections()


class RQBackend(rq_backend.RQBackend):
    """Tasks on RQ queues in Redis; pushed when the enclosing transaction commits."""

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        result: TaskResult = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        if transaction.get_connection().in_atomic_block:
            # robust=False: a failed push raises in the committing code, like a failed
            # insert would with the database backend, instead of vanishing into a log.
            transaction.on_commit(partial(self._push, result), robust=False)
        else:
            self._push(result)
        return result

    def _push(self, result: TaskResult) -> None:
        """Create the RQ job under the result's id and queue (or schedule) it; as
        django-tasks-rq's own `enqueue` does, with the id chosen beforehand."""
        task = result.task
        queue = django_rq.get_queue(task.queue_name, job_class=Job)
        job = queue.create_job(
            task.module_path,
            args=result.args,
            kwargs=result.kwargs,
            job_id=result.id,
            status=JobStatus.SCHEDULED if task.run_after else JobStatus.QUEUED,
            on_failure=Callback(rq_backend.failed_callback),
            on_success=Callback(rq_backend.success_callback),
            meta={"backend_name": self.alias},
        )
        if task.run_after is None:
            job = queue.enqueue_job(job, at_front=task.priority == TASK_MAX_PRIORITY)
        else:
            job = queue.schedule_job(job, task.run_after)
        # TaskResult is frozen; django-tasks-rq sets the time the same way.
        object.__setattr__(result, "enqueued_at", job.enqueued_at)
        task_enqueued.send(type(self), task_result=result)


class DatabaseBackend(db_backend.DatabaseBackend):
    """django-tasks-db's backend: the task row in the caller's transaction, one build of
    its result."""

    # The library's own names (django-tasks-db reads them from Django when it has tasks).
    def enqueue(self, task: db_compat.Task, args: Any, kwargs: Any) -> db_backend.TaskResult:
        self.validate_task(task)
        # The library's own row (its model, the fields its `_task_to_db_task` gives and its
        # pre_save handler, which fills in `run_after`), written with a prepared INSERT
        # (`yunbao.lib.rows`; the ORM's save was most of this call): the task commits with
        # the caller's transaction or not at all.
        # Imported here, as the library does: backends load before the apps are ready.
        from django_tasks_db.models import DBTaskResult

        row: DBTaskResult[Any, Any] = rows.insert(
            DBTaskResult(
                id=self._get_id(),
                args_kwargs=db_compat.normalize_json({"args": args, "kwargs": kwargs}),
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                run_after=task.run_after,  # type: ignore[misc]
                backend_name=self.alias,
            )
        )
        # What `row.task_result` returns, from the task in hand instead of importing it again
        # by `row.task_path` and copying it with the same options (`task.using`).
        result: db_backend.TaskResult = db_backend.TaskResult(
            db_result=row,
            task=task,
            id=normalize_uuid(row.id),
            status=db_compat.TaskResultStatus[row.status],
            enqueued_at=row.enqueued_at,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=row.args_kwargs["args"],
            kwargs=row.args_kwargs["kwargs"],
            backend=self.alias,
            errors=[],
            worker_ids=row.worker_ids,
        )
        object.__setattr__(result, "_return_value", row.return_value)
        db_compat.task_enqueued.send(type(self), task_result=result)
        return result
