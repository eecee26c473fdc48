"""Background tasks of the insight app: counting the orders that moved."""

from __future__ import annotations

from django_tasks import task

from yunbao.insight.store import catch_up


@task()
def catch_up_task() -> str:
    """Count every order marked since the last run (the `insight-catch-up` job)."""
    return f"{catch_up()} orders counted"
