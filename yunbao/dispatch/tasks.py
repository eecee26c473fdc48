"""Background tasks of dispatch: the automatic decision for a new order.

The report's request only enqueues the task (one row), so a reporter never waits for the
classifier, the routing or the roster; `yunbao db_worker` runs it within a second.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django_tasks import task

from yunbao.workorders.events import OrderEvent, subscribe

log = logging.getLogger(__name__)


@task()
def auto_dispatch_task(order_id: int) -> str:
    """Decide for one order; returns the decision's summary for the task result."""
    from yunbao.dispatch.actions import auto_dispatch
    from yunbao.workorders.models import Status, WorkOrder

    order = WorkOrder.objects.filter(pk=order_id).first()
    if order is None or order.status != Status.SUBMITTED:
        # Merged as a duplicate, or a dispatcher was quicker: nothing to decide.
        return "skipped"
    decision = auto_dispatch(order)
    return "automatic" if decision.automatic else "dispatcher"


@subscribe
def on_order_event(event: OrderEvent) -> None:
    """A new order (any source) gets its automatic decision in the background; a human
    accept with another category than the machine's becomes training data."""
    if event.action == "accept":
        from yunbao.dispatch.actions import note_correction

        note_correction(event)
    if event.action == "submit" and settings.YUNBAO_DECIDE_ON_SUBMIT:
        # on_commit: the worker must find the committed row (events already run after commit,
        # this also holds when a caller publishes inside a longer transaction).
        transaction.on_commit(lambda: auto_dispatch_task.enqueue(event.order_id))
