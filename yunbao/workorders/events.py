"""Order events, published after commit to whoever subscribed (notifications, webhooks …).

Apps further up the import ladder (notify, insight) subscribe here instead of being
imported by `workorders`, so the dependency arrows keep pointing down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from yunbao.workorders.models import TimelineEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderEvent:
    order_id: int
    entry_id: int
    action: str
    from_status: str
    to_status: str


Subscriber = Callable[[OrderEvent], None]
_subscribers: list[Subscriber] = []
# Called inside the move's transaction: for writes that must commit with the move or not at
# all (an outbox row, a task to enqueue). They must be quick, and an error undoes the move.
_in_transaction: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> Subscriber:
    """Register `subscriber`, called after commit; usable as a decorator."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
    return subscriber


def subscribe_in_transaction(subscriber: Subscriber) -> Subscriber:
    """Register `subscriber`, called inside the move's transaction; usable as a decorator."""
    if subscriber not in _in_transaction:
        _in_transaction.append(subscriber)
    return subscriber


def unsubscribe(subscriber: Subscriber) -> None:
    for registry in (_subscribers, _in_transaction):
        if subscriber in registry:
            registry.remove(subscriber)


def publish(entry: TimelineEntry) -> None:
    """Hand the event of `entry` to the in-transaction subscribers now, and to the others
    once the surrounding transaction commits."""
    event = OrderEvent(entry.order_id, entry.pk, entry.action, entry.from_status, entry.to_status)
    for subscriber in list(_in_transaction):
        subscriber(event)

    def deliver() -> None:
        for subscriber in list(_subscribers):
            try:
                subscriber(event)
            except Exception:
                # A failing subscriber must not undo or block the move, which is committed.
                log.exception("order event subscriber %r failed for %s", subscriber, event)

    transaction.on_commit(deliver)
