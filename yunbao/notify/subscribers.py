"""Who hears of which order move: in-transaction subscribers of `workorders.events`.

Subscribed inside the move's transaction, so the outbox rows commit with the move or not
at all. Each notification's dedupe key names the timeline row and the audience
(`order:<id>:<entry>:<audience>`), so a replayed event queues nothing new.

| move | who | event kind |
|---|---|---|
| dispatch | the assigned worker, the unit's group robots, the reporter | order_dispatched |
| assign | the new worker | order_dispatched |
| finish | the reporter; the unit's supervisors (to check) | order_handled |
| verify | the reporter | order_closed |
| rework, reopen | the worker | order_reworked |
| request_extension / _suspension / _void | the unit's supervisors | request_pending |

The person who made the move is never told of it. Reporters without an account hear
nothing through channels (the tracking page shows every move). Texts are written in the
default language (`LANGUAGE_CODE`) with the order number; the channels add the link to
the order's page (`PUBLIC_URL`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from yunbao.notify.actions import notify
from yunbao.notify.models import EventKind
from yunbao.org.models import Role, StaffProfile
from yunbao.workorders.events import OrderEvent, subscribe_in_transaction
from yunbao.workorders.models import TimelineEntry, WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)


def _name(user: Any) -> str:
    profile = getattr(user, "profile", None)
    return (profile.display_name if profile else "") or user.get_username()


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%m-%d %H:%M") if value else "—"


def _what(order: WorkOrder) -> str:
    category = order.category.display_name if order.category else _("Category not set")
    place = order.address or (order.grid.name if order.grid else "")
    return f"{category} · {place}" if place else category


def supervisors_of(order: WorkOrder) -> list[User]:
    """Active supervisors of the order's unit."""
    if order.unit_id is None:
        return []
    profiles = StaffProfile.objects.filter(
        unit_id=order.unit_id, user__is_active=True, user__groups__name=Role.SUPERVISOR
    ).select_related("user")
    return [p.user for p in profiles]


def _send(
    order: WorkOrder,
    entry: TimelineEntry,
    audience: str,
    kind: str,
    people: Iterable[Any],
    subject: str,
    body: str,
    units: Iterable[Any] = (),
) -> None:
    recipients = [p for p in people if p is not None and p.pk != entry.actor_id]
    units = [u for u in units if u is not None]
    if not recipients and not units:
        return
    notify(
        kind=kind,
        recipients=recipients,
        units=units,
        subject=subject,
        body=body,
        dedupe_key=f"order:{order.pk}:{entry.pk}:{audience}",
        order=order,
        data={"action": entry.action, "entry": entry.pk},
    )


def _to_worker(order: WorkOrder, entry: TimelineEntry, *, with_unit: bool) -> None:
    _send(
        order,
        entry,
        "worker",
        EventKind.ORDER_DISPATCHED,
        [order.worker],
        _("New order %(number)s for you") % {"number": order.number},
        _("%(what)s. Handle by %(due)s.") % {"what": _what(order), "due": _when(order.handle_due)},
        units=[order.unit] if with_unit else (),
    )


def on_dispatch(order: WorkOrder, entry: TimelineEntry) -> None:
    _to_worker(order, entry, with_unit=True)
    _send(
        order,
        entry,
        "reporter",
        EventKind.ORDER_DISPATCHED,
        [order.reporter],
        _("Your report %(number)s has been dispatched") % {"number": order.number},
        _("%(unit)s will handle it.") % {"unit": order.unit or _("The responsible unit")},
    )


def on_assign(order: WorkOrder, entry: TimelineEntry) -> None:
    _to_worker(order, entry, with_unit=False)


def on_finish(order: WorkOrder, entry: TimelineEntry) -> None:
    _send(
        order,
        entry,
        "reporter",
        EventKind.ORDER_HANDLED,
        [order.reporter],
        _("Your report %(number)s has been handled") % {"number": order.number},
        _("The responsible unit reports: %(note)s. It will be checked, then closed.")
        % {"note": entry.note},
    )
    worker = _name(order.worker) if order.worker else _("The unit")
    _send(
        order,
        entry,
        "supervisors",
        EventKind.ORDER_HANDLED,
        supervisors_of(order),
        _("Order %(number)s is waiting for your check") % {"number": order.number},
        _("%(what)s. %(worker)s reports: %(note)s")
        % {"what": _what(order), "worker": worker, "note": entry.note},
    )


def on_verify(order: WorkOrder, entry: TimelineEntry) -> None:
    _send(
        order,
        entry,
        "reporter",
        EventKind.ORDER_CLOSED,
        [order.reporter],
        _("Your report %(number)s is closed") % {"number": order.number},
        _("The work has been checked. You can rate it on the order's page."),
    )


def on_rework(order: WorkOrder, entry: TimelineEntry) -> None:
    _send(
        order,
        entry,
        "worker",
        EventKind.ORDER_REWORKED,
        [order.worker],
        _("Order %(number)s is sent back for rework") % {"number": order.number},
        _("%(what)s. Reason: %(note)s. Handle by %(due)s.")
        % {"what": _what(order), "note": entry.note, "due": _when(order.handle_due)},
    )


def on_request(order: WorkOrder, entry: TimelineEntry) -> None:
    who = _name(entry.actor) if entry.actor else _("The system")
    _send(
        order,
        entry,
        "approvers",
        EventKind.REQUEST_PENDING,
        supervisors_of(order),
        _("Order %(number)s: a request waits for your decision") % {"number": order.number},
        _("%(who)s asks: %(request)s. Reason: %(note)s")
        % {"who": who, "request": entry.action_label, "note": entry.note},
    )


HANDLERS: dict[str, Callable[[WorkOrder, TimelineEntry], None]] = {
    "dispatch": on_dispatch,
    "assign": on_assign,
    "finish": on_finish,
    "verify": on_verify,
    "rework": on_rework,
    "reopen": on_rework,
    "request_extension": on_request,
    "request_suspension": on_request,
    "request_void": on_request,
}


@subscribe_in_transaction
def on_order_event(event: OrderEvent) -> None:
    """Queue the notifications of a move, in the move's transaction."""
    handler = HANDLERS.get(event.action)
    if handler is None:
        return
    try:
        # A savepoint: a bug here is logged and must not undo the worker's move; the
        # outbox rows still commit with the move (same transaction) when all is well.
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            order = WorkOrder.objects.select_related(
                "reporter", "worker__profile", "unit", "category", "grid"
            ).get(pk=event.order_id)
            entry = TimelineEntry.objects.select_related("actor__profile").get(pk=event.entry_id)
            handler(order, entry)
    except Exception:
        log.exception("notifications for %s could not be queued", event)
