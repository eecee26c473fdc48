"""Background task of the time-limit sweep, enqueued every minute by the periodic scheduler
(registered in `SlaConfig.ready`). Safe to run twice or concurrently: see `sweep`."""

from __future__ import annotations

from django_tasks import task


@task()
def sweep_task() -> dict[str, int]:
    """Run one sweep now; returns the counts for the task result."""
    from yunbao.sla.sweep import sweep

    result = sweep()
    return {**result.fired, "notifications": result.notifications}
