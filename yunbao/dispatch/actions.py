"""Dispatch's writes: the machine's decision on a new order, corrections, rules, alerts.

- `auto_dispatch(order)` runs `policy.decide`, stores the `DispatchDecision` (what the
  dispatcher reads) and, when the machine may act alone, accepts and dispatches the order
  through `yunbao.workorders.actions` as the system (role "system"), the reasons on the
  timeline rows. Otherwise the order stays submitted, in the dispatcher's queue.
- `on_order_event` can subscribe to `yunbao.workorders.events`: a new order gets its
  decision at once; a person's accept with another category than the decision's records a
  `Correction` (training data for the classifier). It never raises. (Where a task worker
  runs, `yunbao.dispatch.tasks` makes the decision in the background instead.)
- `notify_unit_leader` alerts a unit's leader that an order waits with nobody on duty.
- `check_rule` / `save_rule` / `save_threshold` are what the admin saves through.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from yunbao.catalog.models import Category, Kind
from yunbao.dispatch import routing
from yunbao.dispatch.assign import NOBODY_ON_DUTY
from yunbao.dispatch.models import AutoThreshold, Correction, DispatchDecision, RoutingRule
from yunbao.dispatch.policy import MERGED, Plan, clear_thresholds, decide, fallback_text
from yunbao.org.models import Unit
from yunbao.workorders import actions as orders
from yunbao.workorders.events import OrderEvent
from yunbao.workorders.models import TimelineEntry, WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

log = logging.getLogger(__name__)

__all__ = [
    "DISPATCH_FAILED",
    "auto_dispatch",
    "check_rule",
    "note_correction",
    "notify_unit_leader",
    "on_order_event",
    "record_correction",
    "save_rule",
    "save_threshold",
]

# The fallback code when the machine meant to dispatch but the move was refused (the order
# changed meanwhile, say); the order then waits for the dispatcher like any other.
DISPATCH_FAILED = "dispatch_failed"
_GROUP_RE = re.compile(r"^(?P<kind>[a-z]+):(?P<major>\d{2})$")


def auto_dispatch(order: WorkOrder, *, at: datetime | None = None) -> DispatchDecision:
    """Decide for `order`, store the decision, and carry it out when it is automatic."""
    at = at or timezone.now()
    plan = decide(order, at=at)
    reasons = dict(plan.reasons)
    unit = plan.route.unit if plan.route is not None else None
    if unit is not None and NOBODY_ON_DUTY in plan.fallbacks and MERGED not in plan.fallbacks:
        reasons["alert"] = notify_unit_leader(unit, order, NOBODY_ON_DUTY)
    automatic = plan.automatic
    if automatic:
        try:
            with transaction.atomic():
                _carry_out(order, plan, at)
                return _store(order, plan, reasons, automatic=True)
        except orders.TransitionError as exc:
            # Someone moved the order first (or the worker changed unit): theirs to handle.
            log.warning("automatic dispatch of %s refused: %s", order.number, exc)
            order.refresh_from_db()  # the moves made before the refusal were rolled back
            automatic = False
            reasons["automatic"] = False
            reasons["fallbacks"] = [
                *reasons.get("fallbacks", []),
                {"code": DISPATCH_FAILED, "text": str(exc)},
            ]
    return _store(order, plan, reasons, automatic=automatic)


def _store(
    order: WorkOrder, plan: Plan, reasons: dict[str, Any], *, automatic: bool
) -> DispatchDecision:
    assignment = plan.assignment
    decision, _created = DispatchDecision.objects.update_or_create(
        order=order,
        defaults={
            "category": plan.category,
            "confidence": plan.confidence,
            "rule": plan.route.rule if plan.route is not None else None,
            "unit": plan.route.unit if plan.route is not None else None,
            "worker": assignment.worker if assignment is not None else None,
            "automatic": automatic,
            "reasons": reasons,
            "model_version": plan.model_version,
        },
    )
    log.info(
        "dispatch decision for %s: %s%s",
        order.number,
        "automatic" if automatic else "to the dispatcher",
        f" ({', '.join(plan.fallbacks)})" if plan.fallbacks else "",
    )
    return decision


def _carry_out(order: WorkOrder, plan: Plan, at: datetime) -> None:
    """Accept and dispatch as the system; the timeline rows say why."""
    # decide() only calls a plan automatic with all of these.
    assert plan.category is not None
    assert plan.route is not None
    assert plan.route.unit is not None
    assert plan.assignment is not None
    assert plan.assignment.worker is not None
    unit, worker = plan.route.unit, plan.assignment.worker
    reasons = plan.reasons
    # Stored notes are in the district's language, not the reporter's phone's.
    with translation.override(settings.LANGUAGE_CODE):
        source = (
            _("chosen by the reporter")
            if reasons["category"]["source"] == "reporter"
            else _("recognised from the description")
        )
        accept_note = _(
            "Accepted automatically: %(category)s, %(source)s, confidence %(confidence)s."
        ) % {
            "category": str(plan.category),
            "source": source,
            "confidence": f"{plan.confidence:.0%}",
        }
        dispatch_note = _(
            "Dispatched automatically to %(worker)s (%(unit)s) by the rule %(rule)s."
        ) % {
            "worker": reasons["assignment"]["ranking"][0]["name"],
            "unit": str(unit),
            "rule": str(plan.route.rule),
        }
    orders.accept(order, actor=None, category=plan.category, note=accept_note, at=at)
    orders.dispatch(
        order,
        actor=None,
        unit=unit,
        worker=worker,
        note=dispatch_note,
        at=at,
        # "unit" and "worker" are the dispatch verb's own keys; the reasons go beside them.
        data={
            "automatic": True,
            "category": reasons["category"],
            "grid": reasons["grid"],
            "rule": reasons["route"]["rule"],
            "ranking": reasons["assignment"]["ranking"],
        },
    )


def notify_unit_leader(unit: Unit, order: WorkOrder, reason: str) -> dict[str, Any]:
    """Alert `unit`'s leader that `order` waits for them, and why (a fallback code).

    The alert is logged at WARNING, queued through `yunbao.notify` for the leader's own
    channels and the unit's group robots (once per order and unit), and returned for the
    caller to keep (`auto_dispatch` stores it as the decision's `reasons["alert"]`).
    """
    from yunbao.notify.actions import notify
    from yunbao.notify.models import EventKind

    leader = unit.leader
    with translation.override(settings.LANGUAGE_CODE):
        text = fallback_text(reason)
        subject = _("Order %(number)s waits: %(unit)s") % {"number": order.number, "unit": unit}
    notify(
        kind=EventKind.UNIT_ALERT,
        recipients=[leader] if leader is not None else [],
        units=[unit],
        subject=subject,
        body=text,
        dedupe_key=f"unit-alert:{order.pk}:{unit.pk}",
        order=order,
        data={"reason": reason, "unit": unit.code},
    )
    log.warning(
        "alert for the leader of %s (%s): order %s: %s",
        unit.code,
        leader.get_username() if leader is not None else "no leader set",
        order.number,
        reason,
    )
    return {
        "unit": unit.code,
        "leader": leader.get_username() if leader is not None else None,
        "reason": reason,
        "text": text,
        "at": timezone.now().isoformat(),
    }


def record_correction(
    order: WorkOrder,
    predicted: Category | None,
    corrected: Category,
    actor: User | None,
) -> Correction | None:
    """Keep that `actor` set `corrected` where the machine said `predicted`.

    None when there is nothing to keep: the same category, or this correction of this order
    already kept (the console and the accept event may both report one accept).
    """
    if predicted is not None and predicted.pk == corrected.pk:
        return None
    if Correction.objects.filter(order=order, corrected=corrected).exists():
        return None
    user = actor if actor is not None and actor.is_authenticated else None
    correction = Correction.objects.create(
        order=order,
        text=order.description,
        predicted=predicted,
        corrected=corrected,
        actor=user,
    )
    log.info(
        "correction on %s: %s → %s by %s",
        order.number,
        predicted.code if predicted else None,
        corrected.code,
        user,
    )
    return correction


def on_order_event(event: OrderEvent) -> None:
    """Subscriber for `yunbao.workorders.events`: decide on new orders, note corrections.

    Runs after the report's transaction committed; whatever goes wrong is logged and the
    order simply waits for the dispatcher.
    """
    try:
        if event.action == "submit":
            order = WorkOrder.objects.select_related("grid", "category").get(pk=event.order_id)
            auto_dispatch(order)
        elif event.action == "accept":
            note_correction(event)
    except Exception:
        log.exception("dispatch failed to handle %s", event)


def note_correction(event: OrderEvent) -> Correction | None:
    """For an accept event: a person accepted with another category than the decision's."""
    entry = TimelineEntry.objects.select_related("actor").get(pk=event.entry_id)
    if entry.actor is None:
        return None  # the machine's own accept
    decision = (
        DispatchDecision.objects.select_related("category").filter(order_id=event.order_id).first()
    )
    if decision is None or decision.category is None:
        return None  # nothing was predicted to be corrected
    order = WorkOrder.objects.select_related("category").get(pk=event.order_id)
    if order.category is None or order.category_id == decision.category_id:
        return None
    return record_correction(order, decision.category, order.category, entry.actor)


def check_rule(rule: RoutingRule) -> None:
    """Refuse a rule that names both a category and a group, or a malformed group."""
    group = rule.category_group.strip()
    if rule.category_id is not None and group:
        raise ValidationError(
            {"category_group": _("Give a category or a category group, not both.")}
        )
    if group:
        match = _GROUP_RE.match(group)
        if match is None or match["kind"] not in Kind.values:
            raise ValidationError(
                {
                    "category_group": _(
                        "Write a group as kind:major class, e.g. event:05 or component:01."
                    )
                }
            )


def save_rule(rule: RoutingRule, *, actor: User | AbstractBaseUser | AnonymousUser | None) -> None:
    """Check and save a routing rule; this process routes by it at once, others within TTL."""
    rule.category_group = rule.category_group.strip()
    check_rule(rule)
    rule.save()
    routing.clear()
    log.info("routing rule %s saved by %s: %s", rule.pk, actor, rule)


def save_threshold(
    threshold: AutoThreshold, *, actor: User | AbstractBaseUser | AnonymousUser | None
) -> None:
    """Save a category's automatic-dispatch threshold; applies like `save_rule`."""
    threshold.save()
    clear_thresholds()
    log.info("automatic threshold %s saved by %s", threshold, actor)
