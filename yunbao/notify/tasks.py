"""Background task of notify: deliver the outbox.

Enqueued when outbox rows commit (for just those messages) and every 30 seconds by the
scheduler (`notify-deliver`, registered in `NotifyConfig.ready`) for retries, recoveries
and anything an enqueue missed.
"""

from __future__ import annotations

from django_tasks import task

from yunbao.notify.delivery import deliver_due


@task()
def deliver_outbox_task(ids: list[int] | None = None) -> dict[str, int]:
    """Deliver due messages (only `ids`, if given); returns the counts for the task result."""
    return deliver_due(ids=ids).as_dict()
