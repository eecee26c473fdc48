"""The time-limit sweep: warn before a deadline, escalate after it, each exactly once.

Every minute (`sla-sweep` on the periodic schedule, or `yunbao sla-sweep`) the sweep finds,
for each stage and each alert level, the open orders whose clock runs (not suspended, not
paused for a waiting extension request) and that passed the level's point:

- **warning** at stage start + `SLA_WARN_SHARE` × the stage's span, while not yet overdue,
  to the assigned worker (no worker: the unit leader; no unit: the area's dispatchers);
- **escalation 1** at the deadline, to the unit leader (no leader: the unit's supervisors;
  no unit: the area's dispatchers);
- **escalation 2** at deadline + `SLA_ESCALATE2_SHARE` × the span, to the managers whose
  areas cover the order.

Candidates come from one set-based query per stage and level (the points are computed in
SQL, see `yunbao.sla.state`), minus those already alerted (an anti-join on `SlaAlert`'s
unique key). Each batch is one transaction: re-read the orders (one may have moved since),
insert the alerts ignoring conflicts, read back the rows this batch won, and queue their
notifications (`yunbao.notify.actions.notify`) in the same transaction. So a notification
exists exactly when its alert row does, and a re-run, a retried task or a concurrent sweep
fires nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, Exists, F, OuterRef, Q, Value
from django.db.models.lookups import LessThan, LessThanOrEqual
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from yunbao.catalog.models import Stage
from yunbao.org.models import Role, StaffProfile, Unit
from yunbao.sla.display import _amount
from yunbao.sla.models import AlertLevel, SlaAlert
from yunbao.sla.state import (
    DUE_FIELD,
    START_FIELD,
    escalation2_condition,
    running,
    warn_condition,
)
from yunbao.workorders.models import WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

# Escalations first: when an order is first seen long overdue (the sweep was down), the
# people who must act hear about it before anything else is written.
LEVELS = (AlertLevel.ESCALATION2, AlertLevel.ESCALATION1, AlertLevel.WARNING)
# From this many alerts for the same people in one batch, they get one digest instead.
DIGEST_FROM = 4
# Orders a digest lists by number (all of them are in its data).
DIGEST_LINES = 50
KIND_OF_LEVEL = {
    AlertLevel.WARNING: "sla_warning",
    AlertLevel.ESCALATION1: "sla_escalation",
    AlertLevel.ESCALATION2: "sla_escalation",
}

# Called inside each batch's transaction with (level, stage, the orders whose alert the
# batch fired, now): outbox writers further up (the REST API's webhooks) commit with the
# alerts or not at all. Registered by apps in `ready()`; they catch their own errors.
AlertSubscriber = Callable[[str, str, list[WorkOrder], datetime], None]
_alert_subscribers: list[AlertSubscriber] = []


def subscribe_alerts(subscriber: AlertSubscriber) -> AlertSubscriber:
    """Register `subscriber` for the alerts each batch fires."""
    if subscriber not in _alert_subscribers:
        _alert_subscribers.append(subscriber)
    return subscriber


@dataclass
class SweepResult:
    now: datetime
    fired: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AlertLevel.values, 0))
    candidates: int = 0
    notifications: int = 0

    @property
    def warnings(self) -> int:
        return self.fired[AlertLevel.WARNING]

    @property
    def escalations1(self) -> int:
        return self.fired[AlertLevel.ESCALATION1]

    @property
    def escalations2(self) -> int:
        return self.fired[AlertLevel.ESCALATION2]

    @property
    def total(self) -> int:
        return sum(self.fired.values())


def level_condition(level: str, stage: str, now: datetime) -> Q:
    """Orders of `stage` that passed `level`'s point at `now` (clock running or not)."""
    due = F(DUE_FIELD[stage])
    at = Value(now, output_field=DateTimeField())
    if level == AlertLevel.WARNING:
        # Past the warning point but not the deadline: an overdue order gets escalated
        # instead, and "about to be overdue" would be a false message by then.
        return warn_condition(stage, now) & Q(LessThanOrEqual(at, due))
    if level == AlertLevel.ESCALATION1:
        return Q(LessThan(due, at))  # strict, as WorkOrderQuerySet.overdue
    return escalation2_condition(stage, now)


def candidates(level: str, stage: str, now: datetime) -> list[tuple[int, datetime]]:
    """(order id, deadline) of the orders due a `level` alert for `stage` at `now`."""
    already = SlaAlert.objects.filter(
        order=OuterRef("pk"), stage=stage, due=OuterRef(DUE_FIELD[stage]), level=level
    )
    return list(
        WorkOrder.objects.filter(running(stage) & level_condition(level, stage, now))
        .filter(~Exists(already))
        # Grouped by who will hear of them, so a flood's batches have few recipients each
        # and their alerts fold into a few digests (see `_fire`).
        .order_by("unit_id", "worker_id", "area_path", "pk")
        .values_list("pk", DUE_FIELD[stage])
    )


def sweep(now: datetime | None = None, *, batch_size: int | None = None) -> SweepResult:
    """Fire every alert due at `now` (default: now) that has not fired yet."""
    now = now or timezone.now()
    size = batch_size or settings.YUNBAO_SLA_SWEEP_BATCH
    result = SweepResult(now)
    directory = Directory.load()
    # Notifications are written in the site's language, whoever (or whatever) runs the sweep.
    with translation.override(settings.LANGUAGE_CODE):
        for level in LEVELS:
            for stage in START_FIELD:
                rows = candidates(level, stage, now)
                result.candidates += len(rows)
                for chunk in _chunks(rows, size):
                    fired, sent = _fire(level, stage, chunk, now, directory)
                    result.fired[level] += fired
                    result.notifications += sent
    if result.total:
        log.info(
            "sla sweep at %s: %d warnings, %d escalations to leaders, %d to managers",
            now.isoformat(),
            result.warnings,
            result.escalations1,
            result.escalations2,
        )
    return result


def _chunks(
    rows: Sequence[tuple[int, datetime]], size: int
) -> Iterator[list[tuple[int, datetime]]]:
    it = iter(rows)
    while chunk := list(islice(it, max(1, size))):
        yield chunk


def _fire(
    level: str,
    stage: str,
    chunk: list[tuple[int, datetime]],
    now: datetime,
    directory: Directory,
) -> tuple[int, int]:
    """Record and notify one batch in one transaction; (alerts fired, messages queued)."""
    due_of = dict(chunk)
    batch = uuid.uuid4()
    with transaction.atomic():
        # Re-read: an order may have finished, been suspended or got a new deadline since
        # the candidate query. Under SQLite's write lock this read is the truth.
        orders = [
            o
            for o in WorkOrder.objects.filter(running(stage), pk__in=due_of)
            .select_related("category")
            .only(
                "pk",
                "number",
                "status",
                "area_path",
                "address",
                "worker_id",
                "unit_id",
                "category__name",
                "category__name_en",
                DUE_FIELD[stage],
                START_FIELD[stage],
            )
            if o.due_for(stage) == due_of[o.pk]
        ]
        workers = directory.users(o.worker_id for o in orders if o.worker_id)
        recipients = {o.pk: directory.recipients(level, o, workers) for o in orders}
        SlaAlert.objects.bulk_create(
            [
                SlaAlert(
                    order_id=o.pk,
                    stage=stage,
                    due=due_of[o.pk],
                    level=level,
                    fired_at=now,
                    recipients=[u.get_username() for u in recipients[o.pk]],
                    batch=batch,
                )
                for o in orders
            ],
            ignore_conflicts=True,
        )
        # Only the rows this batch inserted: a concurrent sweep's rows are its to notify.
        won = set(
            SlaAlert.objects.filter(
                order_id__in=[o.pk for o in orders], stage=stage, level=level, batch=batch
            ).values_list("order_id", flat=True)
        )
        # One notification per order, unless the same people would get more than
        # DIGEST_FROM of them at once (the sweep's first run, or after an outage): then
        # one digest listing them, so a leader gets one message and not two thousand.
        groups: dict[tuple[int, ...], list[WorkOrder]] = defaultdict(list)
        for order in orders:
            if order.pk in won:
                groups[tuple(sorted(u.pk for u in recipients[order.pk]))].append(order)
        sent = 0
        for key, members in groups.items():
            people = recipients[members[0].pk]
            if len(members) < DIGEST_FROM:
                for order in members:
                    sent += _notify(level, stage, order, people, now)
            else:
                sent += _notify_digest(level, stage, members, people, now, f"{batch}:{key}")
        for subscriber in list(_alert_subscribers):
            subscriber(level, stage, [o for o in orders if o.pk in won], now)
    return len(won), sent


def _notify(level: str, stage: str, order: WorkOrder, people: list[User], now: datetime) -> int:
    from yunbao.notify.actions import notify

    due = order.due_for(stage)
    values = {
        "number": order.number,
        "stage": Stage(stage).label,
        "category": order.category.display_name if order.category else _("no category"),
        "due": f"{timezone.localtime(due):%Y-%m-%d %H:%M}",
        "amount": _amount(due - now),
    }
    if level == AlertLevel.WARNING:
        subject = _("Due soon: order %(number)s") % values
        body = _(
            "%(stage)s of order %(number)s (%(category)s) is due at %(due)s, "
            "in %(amount)s. Please finish it in time or ask for an extension."
        )
    elif level == AlertLevel.ESCALATION1:
        subject = _("Overdue: order %(number)s") % values
        body = _(
            "%(stage)s of order %(number)s (%(category)s) was due at %(due)s and is not "
            "done. Escalated to the unit leader."
        )
    else:
        subject = _("Still overdue: order %(number)s") % values
        body = _(
            "%(stage)s of order %(number)s (%(category)s) was due at %(due)s and is "
            "overdue by %(amount)s. Escalated to the district manager."
        )
    messages = notify(
        kind=KIND_OF_LEVEL[AlertLevel(level)],
        recipients=people,
        subject=subject,
        body=body % values,
        dedupe_key=f"sla:{order.pk}:{stage}:{due.timestamp():.6f}:{level}",
        order=order,
        data={"stage": stage, "level": level, "due": due.isoformat()},
    )
    return len(messages)


def _notify_digest(
    level: str,
    stage: str,
    orders: list[WorkOrder],
    people: list[User],
    now: datetime,
    key: str,
) -> int:
    from yunbao.notify.actions import notify

    n = len(orders)
    if level == AlertLevel.WARNING:
        subject = ngettext(
            "%(n)d order about to be overdue", "%(n)d orders about to be overdue", n
        ) % {"n": n}
    elif level == AlertLevel.ESCALATION1:
        subject = ngettext("%(n)d order overdue", "%(n)d orders overdue", n) % {"n": n}
    else:
        subject = ngettext(
            "%(n)d order still overdue (second escalation)",
            "%(n)d orders still overdue (second escalation)",
            n,
        ) % {"n": n}
    lines = [
        _("%(number)s: %(stage)s due %(due)s (%(category)s)")
        % {
            "number": o.number,
            "stage": Stage(stage).label,
            "due": f"{timezone.localtime(o.due_for(stage)):%m-%d %H:%M}",
            "category": o.category.display_name if o.category else _("no category"),
        }
        for o in orders[:DIGEST_LINES]
    ]
    if n > DIGEST_LINES:
        lines.append(_("… and %(count)d more") % {"count": n - DIGEST_LINES})
    messages = notify(
        kind=KIND_OF_LEVEL[AlertLevel(level)],
        recipients=people,
        subject=subject,
        body="\n".join(lines),
        # The batch's id: its transaction commits the alerts and this message together, and
        # a retry finds the alerts there and has nothing to send.
        dedupe_key=f"sla-digest:{key}"[:200],
        data={
            "stage": stage,
            "level": level,
            "orders": [o.number for o in orders],
        },
    )
    return len(messages)


# --- Who hears about it ---------------------------------------------------------------------


@dataclass
class Directory:
    """The people alerts go to, read once per sweep (a handful of staff, not per order)."""

    leaders: dict[int, User]
    supervisors: dict[int, list[User]]
    dispatchers: list[tuple[User, tuple[str, ...]]]
    managers: list[tuple[User, tuple[str, ...]]]
    _covering: dict[tuple[str, str], list[User]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Directory:
        leaders = {
            u.pk: u.leader
            for u in Unit.objects.filter(active=True, leader__is_active=True).select_related(
                "leader"
            )
            if u.leader is not None
        }
        by_role: dict[str, list[StaffProfile]] = defaultdict(list)
        profiles = (
            StaffProfile.objects.filter(
                user__is_active=True,
                user__groups__name__in=[Role.DISPATCHER, Role.MANAGER, Role.SUPERVISOR],
            )
            .select_related("user")
            .prefetch_related("areas")
            .annotate(role=F("user__groups__name"))
        )
        for profile in profiles:
            by_role[profile.role].append(profile)
        supervisors: dict[int, list[User]] = defaultdict(list)
        for p in by_role[Role.SUPERVISOR]:
            if p.unit_id is not None:
                supervisors[p.unit_id].append(p.user)

        def with_paths(role: str) -> list[tuple[User, tuple[str, ...]]]:
            return [(p.user, tuple(a.path for a in p.areas.all())) for p in by_role[role]]

        return cls(leaders, supervisors, with_paths(Role.DISPATCHER), with_paths(Role.MANAGER))

    def covering(self, role: str, area_path: str) -> list[User]:
        """The dispatchers or managers one of whose areas contains `area_path`."""
        key = (role, area_path)
        if key not in self._covering:
            people = self.dispatchers if role == Role.DISPATCHER else self.managers
            self._covering[key] = [
                u for u, paths in people if any(area_path.startswith(p) for p in paths)
            ]
        return self._covering[key]

    @staticmethod
    def users(ids: Iterable[int]) -> dict[int, User]:
        from django.contrib.auth import get_user_model

        wanted = set(ids)
        if not wanted:
            return {}
        return get_user_model().objects.filter(is_active=True).in_bulk(wanted)

    def recipients(self, level: str, order: WorkOrder, workers: dict[int, Any]) -> list[User]:
        if level == AlertLevel.ESCALATION2:
            return self.covering(Role.MANAGER, order.area_path)
        if level == AlertLevel.WARNING and order.worker_id in workers:
            return [workers[order.worker_id]]
        if order.unit_id is not None:
            leader = self.leaders.get(order.unit_id)
            if leader is not None:
                return [leader]
            if level == AlertLevel.ESCALATION1 and self.supervisors.get(order.unit_id):
                return self.supervisors[order.unit_id]
        return self.covering(Role.DISPATCHER, order.area_path)
