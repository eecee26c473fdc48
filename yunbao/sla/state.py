"""Where an order stands against its running stage's deadline: ok, due soon, overdue, paused.

One definition serves the badge on every page (`sla_state`, per order in Python) and the
lists and the sweep (`due_soon`, `overdue`, `warn_condition` …, the same arithmetic in SQL):

- the *warning point* of a stage is `WorkOrder.warn_at`, set by `workorders.actions` when the
  stage's clock starts: `SLA_WARN_SHARE` of the limit counted in the limit's own time (80 %
  of a 4-working-hour limit from Friday 16:00 is Monday 10:12, not Sunday night), moved with
  the deadline by pauses and recomputed by an extension. Orders stored before that field
  existed fall back to stage start + share × (deadline − stage start);
- the *second escalation point* is deadline + `SLA_ESCALATE2_SHARE` × (deadline − stage start),
  measured on the clock between the stage's start and its (possibly shifted) deadline.

The SQL compares seconds since the epoch (`Epoch`), which SQLite and PostgreSQL both compute
without any per-row Python, so the sweep over 100,000 open orders is one indexed scan per
stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import DateTimeField, F, FloatField, Func, Q, Value
from django.db.models.lookups import LessThan, LessThanOrEqual
from django.utils import timezone

from yunbao.catalog.models import Stage
from yunbao.workorders.models import STAGE_OF_STATUS, Status, WorkOrder, WorkOrderQuerySet

OK = "ok"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
PAUSED = "paused"
LEVELS = (OK, DUE_SOON, OVERDUE, PAUSED)

# When each stage's clock started (the latest time, after a rework).
START_FIELD: dict[str, str] = {
    Stage.ACCEPT: "created_at",
    Stage.DISPATCH: "accepted_at",
    Stage.HANDLE: "dispatched_at",
    Stage.CHECK: "handled_at",
}
DUE_FIELD: dict[str, str] = {stage: f"{stage}_due" for stage in START_FIELD}
# The statuses in which each stage's clock runs (the inverse of STAGE_OF_STATUS).
STATUSES_OF_STAGE: dict[str, tuple[str, ...]] = {
    stage: tuple(s for s, st in STAGE_OF_STATUS.items() if st == stage) for stage in START_FIELD
}


def warn_share() -> float:
    return float(settings.YUNBAO_SLA_WARN_SHARE)


def escalate2_share() -> float:
    return float(settings.YUNBAO_SLA_ESCALATE2_SHARE)


@dataclass(frozen=True)
class SlaState:
    """An order's running stage against its deadline.

    `remaining` is negative when overdue; while paused it is the time that was left when
    the clock stopped (it does not run down).
    """

    level: str
    stage: str
    due: datetime
    remaining: timedelta
    warn_at: datetime | None

    @property
    def overdue(self) -> bool:
        return self.level == OVERDUE

    @property
    def due_soon(self) -> bool:
        return self.level == DUE_SOON


def warning_point(start: datetime | None, due: datetime, share: float | None = None) -> datetime:
    """When a stage that started at `start` and is due at `due` becomes "due soon"."""
    if start is None or start >= due:
        return due
    return start + (due - start) * (warn_share() if share is None else share)


def escalation2_point(start: datetime | None, due: datetime) -> datetime | None:
    """When an overdue stage is escalated a second time (None without a known start)."""
    if start is None or start >= due:
        return None
    return due + (due - start) * escalate2_share()


def sla_state(order: WorkOrder, now: datetime | None = None) -> SlaState | None:
    """The order's running stage against its deadline, or None when no clock runs."""
    now = now or timezone.now()
    if order.status == Status.SUSPENDED:
        stage = STAGE_OF_STATUS.get(order.suspended_from)
        stopped: datetime | None = order.suspended_at
    else:
        stage = order.current_stage
        stopped = order.paused_at
    if stage is None:
        return None
    due = order.due_for(stage)
    if due is None:
        return None
    start = getattr(order, START_FIELD[stage])
    warn_at = order.warn_at if order.warn_at is not None else warning_point(start, due)
    if order.status == Status.SUSPENDED or stopped is not None:
        return SlaState(PAUSED, stage, due, due - (stopped or now), warn_at)
    if now > due:  # the same strict comparison as WorkOrderQuerySet.overdue
        level = OVERDUE
    elif now >= warn_at:
        level = DUE_SOON
    else:
        level = OK
    return SlaState(level, stage, due, due - now, warn_at)


# --- The same in SQL ------------------------------------------------------------------------


class Epoch(Func):
    """Seconds since 1970-01-01 UTC of a datetime column, as a float, on SQLite and
    PostgreSQL (Django stores UTC text on SQLite, which `julianday` reads)."""

    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra,
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision)",
            **extra,
        )


def _epoch(moment: datetime) -> Value:
    return Value(moment.timestamp(), output_field=FloatField())


def warn_condition(stage: str, now: datetime, share: float | None = None) -> Q:
    """Orders of `stage` past their warning point at `now`: the stored `warn_at`, or for
    orders without one share × due + (1 − share) × start ≤ now (in epoch seconds; orders
    without a known start never qualify, NULL). `share` forces the formula (tests)."""
    s = warn_share() if share is None else share
    start, due = Epoch(F(START_FIELD[stage])), Epoch(F(DUE_FIELD[stage]))
    formula = Q(LessThanOrEqual(due * Value(s) + start * Value(1 - s), _epoch(now)))
    if share is not None:
        return formula
    return Q(warn_at__lte=now) | (Q(warn_at__isnull=True) & formula)


def escalation2_condition(stage: str, now: datetime) -> Q:
    """Orders of `stage` past their second escalation point at `now`."""
    e = escalate2_share()
    start, due = Epoch(F(START_FIELD[stage])), Epoch(F(DUE_FIELD[stage]))
    return Q(LessThanOrEqual(due * Value(1 + e) - start * Value(e), _epoch(now)))


def running(stage: str) -> Q:
    """Orders whose `stage` clock is running: in one of its statuses, with a deadline, not
    paused for a waiting extension request (suspended orders have no running stage)."""
    return Q(
        status__in=STATUSES_OF_STAGE[stage],
        paused_at__isnull=True,
        **{f"{DUE_FIELD[stage]}__isnull": False},
    )


def due_soon(qs: WorkOrderQuerySet, now: datetime | None = None) -> WorkOrderQuerySet:
    """Orders of `qs` past their warning point and not yet overdue ("about to be overdue")."""
    now = now or timezone.now()
    condition = Q()
    for stage in START_FIELD:
        not_yet = LessThanOrEqual(_epoch(now), Epoch(F(DUE_FIELD[stage])))
        condition |= running(stage) & warn_condition(stage, now) & Q(not_yet)
    return qs.filter(condition)


def overdue(qs: WorkOrderQuerySet, now: datetime | None = None) -> WorkOrderQuerySet:
    """Orders of `qs` whose running stage is past its deadline (paused ones are not)."""
    return qs.overdue(now)


def at_risk(qs: WorkOrderQuerySet, now: datetime | None = None) -> WorkOrderQuerySet:
    """Overdue or about to be: what a console or a count tile calls attention to."""
    now = now or timezone.now()
    condition = Q()
    for stage in START_FIELD:
        condition |= running(stage) & (
            warn_condition(stage, now)
            | Q(LessThan(F(DUE_FIELD[stage]), Value(now, output_field=DateTimeField())))
        )
    return qs.filter(condition)
