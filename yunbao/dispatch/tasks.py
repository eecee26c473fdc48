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


def _training_digest(texts: list[str], labels: list[str]) -> str:
    """A fingerprint of the training data: equal when no order closed, no correction was
    made and no category changed since it was taken."""
    import hashlib

    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\x1f{text}\x1e".encode())
    return digest.hexdigest()


@task()
def retrain_task() -> str:
    """The nightly retraining (registered in `DispatchConfig.ready`, daily at 03:00).

    Idempotent, since the scheduler and the queues deliver at least once: a retraining on
    data that has not changed since the last one is skipped ("unchanged"), so a second
    delivery neither stores another version nor touches the active one. (Run anyway, it
    would be harmless too: the same data gives a model no better than the active one,
    which stays active.)
    """
    from yunbao.dispatch.classifier import retrain_and_maybe_promote
    from yunbao.dispatch.models import ClassifierModel
    from yunbao.dispatch.training import training_data_from_orders

    data = training_data_from_orders()
    digest = _training_digest(data.texts, data.labels)
    last = (
        ClassifierModel.objects.filter(source=ClassifierModel.Source.ORDERS)
        .order_by("-version")
        .first()
    )
    if last is not None and last.metrics.get("training_digest") == digest:
        log.info("classifier not retrained: the training data is unchanged since v%d", last.version)
        return "unchanged"
    result = retrain_and_maybe_promote()
    if result.model is None:
        return "not retrained"
    ClassifierModel.objects.filter(pk=result.model.pk).update(
        metrics=result.model.metrics | {"training_digest": digest}
    )
    return "promoted" if result.promoted else "stored"
