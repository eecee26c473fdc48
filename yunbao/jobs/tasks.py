"""Tasks of the jobs app itself: keeping its records short, and a no-op for checks.

Both are idempotent, as every periodic task must be (see `yunbao.jobs.scheduler`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task


@task()
def prune_task() -> dict[str, int]:
    """Delete periodic-run records and finished task results older than JOB_HISTORY_DAYS.

    Deleting what is already gone deletes nothing, so running twice is harmless.
    """
    from django_tasks_db.models import DBTaskResult

    from yunbao.jobs.models import ScheduledRun

    cutoff = timezone.now() - timedelta(days=settings.YUNBAO_JOB_HISTORY_DAYS)
    runs, _ = ScheduledRun.objects.filter(slot__lt=cutoff).delete()
    # Only finished results: a queued or running task is never removed under a worker.
    results, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    return {"scheduled_runs": runs, "task_results": results}


@task()
def echo_task(value: int = 0) -> int:
    """Returns its argument: a health check of a worker, and the bench's no-op task."""
    return value
