"""What one order contributes to the indicators: the single definition of every count.

`facts_of(order, steps)` reads an order (its current fields) and its timeline and returns,
per local day (Asia/Shanghai by `TIME_ZONE`), how much it adds to each measure of
`yunbao.insight.models.MEASURES`, and the durations of the stages it finished. The
aggregates (`store`), their recomputation, the drill-down and the benchmark's scan baseline
all call this function, so they cannot define a count differently.

Every count is dated by exactly one day, so days add up over any period:

- **reports**: every order, on the day it was reported. **valid**: those of them that were
  filed (an `accept` move exists; rejected and merged reports are not valid).
- **due_accept**: the filing clock ended (accept or reject) — on that day — or still runs
  (status submitted) — on its deadline's day. **responded_on_time**: the accept or reject
  was on time (response timeliness, 响应及时率).
- **filed / filed_on_time**: the accept move, on its day, and whether it met the deadline.
  **filed_voided**: filed orders that are voided now (for accurate filing).
- **due_dispatch**: each dispatch move (a returned order is dispatched again: each round
  counts), on its day, plus an order waiting in `accepted` on its dispatch deadline's day.
  **dispatched / dispatched_on_time**: the dispatch moves. **returned**: dispatch moves the
  unit returned (回退) before the next dispatch, dated by the dispatch.
- **due_handle**: each `finish` (a reworked order is handled again: each round counts) on
  its day, plus an order in `dispatched`/`in_progress` on its handling deadline's day.
  **handled / handled_on_time**: the finish moves.
- **due_check**: each `verify` or `rework` (the check clock's end) on its day, plus an order
  in `handled` on its check deadline's day. **checked / checked_on_time**: those moves.
- **due_close**: an order closed now, on the day of its closing `verify`; or an order in
  the hands of a unit (dispatched, in progress, handled) on its closing deadline's day — the
  check deadline once handled, else the handling deadline. **closed**: closed now.
  **closed_on_time**: closed, and both its last handling and its closing check were on
  time. A reopened order is no longer closed: its earlier closing is withdrawn.
- **reworked**: orders of `due_close` sent back at least once (rework or reopen), counted
  once per order; **reworks**: the number of those moves (an order reworked twice adds 2).
- **rated / rating_sum / satisfied** (rating ≥ 4): the order's current rating, on the day
  of its last `rate` move (a reopen clears the rating).

Suspended orders (挂账, approved) count in no "due" while suspended, as the standard's
"due − deferred" allows: their clock is paused and their deadline moves on resume. A running
stage is judged on its deadline's day, so on the current day a stage due later today
already counts as due and not yet done.

**Durations** of the stages an order finished, dated by the finishing day, in seconds with
the time spent suspended left out: filing (report → accept/reject), dispatch (accepted or
returned → dispatch), handling (dispatched, reworked or reopened → finish), check
(finish → verify/rework), and report → close for closed orders.

All figures count for the order's *current* grid, unit, scene, category and source.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from django.utils import timezone

from yunbao.workorders.models import Status

# The WorkOrder columns `facts_of` reads, in `OrderRow`'s order (for values_list).
ORDER_FIELDS = (
    "pk",
    "status",
    "source",
    "scene_id",
    "category_id",
    "unit_id",
    "area_path",
    "created_at",
    "accept_due",
    "dispatch_due",
    "handle_due",
    "check_due",
    "rating",
)
STEP_FIELDS = ("action", "from_status", "to_status", "at", "on_time")

# Upper edges of the duration histogram's buckets, in seconds: bucket i holds durations in
# [EDGES[i], EDGES[i + 1]); the last one is open-ended. Fine where limits are (minutes to
# hours), coarser for days: the 90th percentile is interpolated within its bucket.
_MIN, _HOUR, _DAY = 60, 3600, 86400
BUCKET_EDGES: tuple[int, ...] = (
    0,
    1 * _MIN,
    2 * _MIN,
    5 * _MIN,
    10 * _MIN,
    15 * _MIN,
    20 * _MIN,
    30 * _MIN,
    45 * _MIN,
    1 * _HOUR,
    90 * _MIN,
    2 * _HOUR,
    3 * _HOUR,
    4 * _HOUR,
    6 * _HOUR,
    8 * _HOUR,
    12 * _HOUR,
    18 * _HOUR,
    1 * _DAY,
    36 * _HOUR,
    2 * _DAY,
    3 * _DAY,
    4 * _DAY,
    5 * _DAY,
    7 * _DAY,
    10 * _DAY,
    14 * _DAY,
    21 * _DAY,
    30 * _DAY,
    60 * _DAY,
    90 * _DAY,
)


def bucket_of(seconds: int) -> int:
    return max(0, bisect.bisect_right(BUCKET_EDGES, seconds) - 1)


class OrderRow(NamedTuple):
    pk: int
    status: str
    source: str
    scene_id: int | None
    category_id: int | None
    unit_id: int | None
    area_path: str
    created_at: datetime
    accept_due: datetime | None
    dispatch_due: datetime | None
    handle_due: datetime | None
    check_due: datetime | None
    rating: int | None


class Step(NamedTuple):
    action: str
    from_status: str
    to_status: str
    at: datetime
    on_time: bool | None


@dataclass
class Facts:
    counts: dict[date, Counter[str]] = field(default_factory=dict)
    # (day, stage, seconds)
    durations: list[tuple[date, str, int]] = field(default_factory=list)

    def add(self, day: date, measure: str, n: int = 1) -> None:
        if n:
            self.counts.setdefault(day, Counter())[measure] += n

    def to_json(self) -> tuple[dict[str, dict[str, int]], list[list[Any]]]:
        counts = {
            d.isoformat(): {m: n for m, n in c.items() if n} for d, c in sorted(self.counts.items())
        }
        return counts, [[d.isoformat(), s, n] for d, s, n in self.durations]


def local_day(moment: datetime) -> date:
    # get_default_timezone is cached by Django (and cleared when TIME_ZONE changes).
    return moment.astimezone(timezone.get_default_timezone()).date()


_IN_HAND = (Status.DISPATCHED, Status.IN_PROGRESS)


def facts_of(order: OrderRow, steps: list[Step]) -> Facts:
    """The order's contribution to every measure, per local day (see the module docstring)."""
    facts = Facts()
    add = facts.add
    day = local_day

    # Suspension intervals, to leave out of durations.
    paused: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for s in steps:
        if s.action == "suspend":
            since = s.at
        elif s.action == "resume" and since is not None:
            paused.append((since, s.at))
            since = None

    def duration(stage: str, start: datetime | None, end: datetime) -> None:
        if start is None:
            return
        seconds = (end - start).total_seconds()
        for a, b in paused:
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                seconds -= (hi - lo).total_seconds()
        facts.durations.append((day(end), stage, max(0, round(seconds))))

    created = order.created_at
    add(day(created), "reports")
    if any(s.action == "accept" for s in steps):
        add(day(created), "valid")

    dispatch_start: datetime | None = None
    handle_start: datetime | None = None
    check_start: datetime | None = None
    last_dispatch: datetime | None = None
    returned_counted = True
    last_finish_on_time: bool | None = None
    last_verify: Step | None = None
    last_rate: datetime | None = None
    reworks = 0
    for s in steps:
        action, at = s.action, s.at
        entering = s.to_status != s.from_status and s.from_status != Status.SUSPENDED
        if action in ("accept", "reject"):
            d = day(at)
            add(d, "due_accept")
            add(d, "responded_on_time", s.on_time is True)
            duration("accept", created, at)
            if action == "accept":
                add(d, "filed")
                add(d, "filed_on_time", s.on_time is True)
                add(d, "filed_voided", order.status == Status.VOIDED)
        elif action == "dispatch":
            d = day(at)
            add(d, "due_dispatch")
            add(d, "dispatched")
            add(d, "dispatched_on_time", s.on_time is True)
            duration("dispatch", dispatch_start, at)
            last_dispatch, returned_counted = at, False
        elif action == "return":
            if last_dispatch is not None and not returned_counted:
                add(day(last_dispatch), "returned")
                returned_counted = True
        elif action == "finish":
            d = day(at)
            add(d, "due_handle")
            add(d, "handled")
            add(d, "handled_on_time", s.on_time is True)
            duration("handle", handle_start, at)
            last_finish_on_time = s.on_time
        elif action in ("verify", "rework"):
            d = day(at)
            add(d, "due_check")
            add(d, "checked")
            add(d, "checked_on_time", s.on_time is True)
            duration("check", check_start, at)
            if action == "verify":
                last_verify = s
        elif action == "rate":
            last_rate = at
        if action in ("rework", "reopen"):
            reworks += 1
        if action == "reopen":
            last_rate = None
        # Where a stage clock starts (a resume continues the stage it paused).
        if entering:
            if s.to_status == Status.ACCEPTED:
                dispatch_start = at
            elif s.to_status == Status.DISPATCHED:
                handle_start = at
            elif s.to_status == Status.HANDLED:
                check_start = at

    status = order.status
    closing_day: date | None = None
    if status == Status.SUBMITTED and order.accept_due is not None:
        add(day(order.accept_due), "due_accept")
    elif status == Status.ACCEPTED and order.dispatch_due is not None:
        add(day(order.dispatch_due), "due_dispatch")
    elif status in _IN_HAND and order.handle_due is not None:
        closing_day = day(order.handle_due)
        add(closing_day, "due_handle")
    elif status == Status.HANDLED and order.check_due is not None:
        closing_day = day(order.check_due)
        add(closing_day, "due_check")
    elif status == Status.CLOSED and last_verify is not None:
        closing_day = day(last_verify.at)
        add(closing_day, "closed")
        add(
            closing_day,
            "closed_on_time",
            last_verify.on_time is True and last_finish_on_time is True,
        )
        duration("total", created, last_verify.at)
    if closing_day is not None:
        add(closing_day, "due_close")
        add(closing_day, "reworked", reworks > 0)
        add(closing_day, "reworks", reworks)
    if order.rating is not None and last_rate is not None:
        d = day(last_rate)
        add(d, "rated")
        add(d, "rating_sum", order.rating)
        add(d, "satisfied", order.rating >= 4)
    return facts
