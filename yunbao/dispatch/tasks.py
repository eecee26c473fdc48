"""Background tasks of dispatch: the automatic decision for a new order.

The report's request only enqueues the task (one row), so a reporter never waits for the
classifier, the routing or the roster; `yunbao db_worker` runs it within a second.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django_tasks import task

from yunbao.workorders.events import OrderEvent, subscribe, subscribe_in_transaction

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


@subscribe_in_transaction
def enqueue_decision(event: OrderEvent) -> None:
    """A new order (any source) gets its automatic decision in the background. Enqueued in
    the order's own transaction: the task row commits with the order or not at all, and the
    report needs no second write."""
    if event.action == "submit" and settings.YUNBAO_DECIDE_ON_SUBMIT:
        auto_dispatch_task.enqueue(event.order_id)


@subscribe
def on_order_event(event: OrderEvent) -> None:
    """A human accept with another category than the machine's becomes training data."""
    if event.action == "accept":
        from yunbao.dispatch.actions import note_correction

        note_correction(event)
