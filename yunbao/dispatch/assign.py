"""Choosing the field worker: who of the responsible unit is on duty here, and nearest.

The candidates are `yunbao.org.duty.on_duty(unit, area, at)`: the unit's active field
workers on shift at that moment whose service areas cover the area. They are ranked by

1. distance from the problem to their last known position (`positions.latest_positions`),
   in whole metres, so people placed at the same spot tie exactly; unknown positions last;
2. open workload: how many orders are dispatched to them or in progress (one grouped query);
3. fairness among equals: the one assigned least recently first (their latest "dispatch" or
   "assign" timeline entry within `FAIRNESS_WINDOW` on an order still theirs; none counts as
   longest ago);
4. the user id, so the answer is the same in every process.

Workload and fairness cost a query each and only decide between people tied on the earlier
keys, so they are computed for the people who can still reach the first `detail` places
(the top 3 shown to the dispatcher), not for everyone on duty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import takewhile
from typing import TYPE_CHECKING, Any

from django.db.models import Count

from yunbao.dispatch.positions import Position, latest_positions
from yunbao.geo.models import Area
from yunbao.intake.dedupe import haversine_m
from yunbao.org.duty import on_duty
from yunbao.org.models import Unit
from yunbao.workorders.models import Status, TimelineEntry, WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "FAIRNESS_WINDOW",
    "NOBODY_ON_DUTY",
    "Assignment",
    "Candidate",
    "choose_worker",
    "display_name",
]

# Assignments older than this no longer count for fairness: someone last assigned a month
# ago has waited long enough, whoever else has, and the look-back stays a bounded query.
FAIRNESS_WINDOW = dt.timedelta(days=30)
# The statuses in which an order is in a worker's hands.
IN_HAND = (Status.DISPATCHED, Status.IN_PROGRESS)
# The reason code when the unit has nobody on duty covering the area.
NOBODY_ON_DUTY = "nobody_on_duty"


def display_name(user: User) -> str:
    """A person's name as colleagues know it (the profile's display name, else the login)."""
    profile = getattr(user, "profile", None)
    return (profile.display_name if profile else "") or user.get_username()


@dataclass(frozen=True)
class Candidate:
    """One person on duty and the figures they were ranked by (None: not needed)."""

    worker: User
    distance_m: int | None
    workload: int | None = None
    last_assigned: dt.datetime | None = None

    def as_reason(self) -> dict[str, Any]:
        return {
            "worker": self.worker.get_username(),
            "name": display_name(self.worker),
            "distance_m": self.distance_m,
            "workload": self.workload,
            "last_assigned": self.last_assigned.isoformat() if self.last_assigned else None,
        }


@dataclass(frozen=True)
class Assignment:
    """The chosen worker (None: nobody on duty), why, and everyone on duty best first."""

    worker: User | None
    reasons: dict[str, Any]
    ranking: list[Candidate]


def choose_worker(
    unit: Unit, point: Position, area: Area, at: dt.datetime, *, detail: int = 3
) -> Assignment:
    """The field worker of `unit` to send to `point` in `area` at `at`.

    `ranking` is fully ordered (workload and fairness known) for its first `detail` places;
    pass `detail=0` to rank everyone on duty by every key (the "where would this go?" page).
    """
    people = on_duty(unit, area, at)
    if not people:
        return Assignment(None, {"on_duty": 0, "worker": None, "code": NOBODY_ON_DUTY}, [])
    positions = latest_positions(people)
    lat, lon = point
    ranking = []
    for person in people:
        position = positions.get(person.pk)
        distance = (
            None if position is None else round(haversine_m(lat, lon, position[0], position[1]))
        )
        ranking.append(Candidate(person, distance))
    limit = len(ranking) if detail <= 0 else detail

    def by_distance(c: Candidate) -> tuple[bool, int]:
        return (c.distance_m is None, c.distance_m or 0)

    def by_workload(c: Candidate) -> tuple[bool, int, int]:
        return (*by_distance(c), c.workload or 0)

    ranking.sort(key=lambda c: (*by_distance(c), c.worker.pk))
    ranking = _refine(ranking, by_distance, _with_workload, limit)
    ranking = _refine(ranking, by_workload, lambda cs: _with_last_assigned(cs, at), limit)
    chosen = ranking[0]
    reasons = {
        "on_duty": len(ranking),
        "worker": chosen.worker.get_username(),
        "ranking": [c.as_reason() for c in ranking[:3]],
    }
    return Assignment(chosen.worker, reasons, ranking)


def _refine(
    ranking: list[Candidate],
    key: Callable[[Candidate], tuple[Any, ...]],
    compute: Callable[[list[Candidate]], list[Candidate]],
    limit: int,
) -> list[Candidate]:
    """Apply the next ranking key to the people who may still reach the first `limit` places.

    `ranking` is sorted by `key` (then id); everyone whose `key` equals or beats the
    `limit`-th person's can end up in front, so `compute` fills in the next figure for them
    and they are sorted again. The rest keep their places behind.
    """
    cutoff = key(ranking[min(limit, len(ranking)) - 1])
    head = list(takewhile(lambda c: key(c) <= cutoff, ranking))
    tail = ranking[len(head) :]
    head = compute(head)
    head.sort(key=lambda c: (key(c), c.workload or 0, _recency(c), c.worker.pk))
    return head + tail


def _recency(c: Candidate) -> tuple[bool, dt.datetime]:
    # Never (or not lately) assigned comes first: they have waited longest.
    return (c.last_assigned is not None, c.last_assigned or dt.datetime.min.replace(tzinfo=dt.UTC))


def _with_workload(candidates: list[Candidate]) -> list[Candidate]:
    ids = [c.worker.pk for c in candidates]
    counts = dict(
        WorkOrder.objects.filter(worker_id__in=ids, status__in=IN_HAND)
        .order_by()
        .values("worker_id")
        .annotate(n=Count("id"))
        .values_list("worker_id", "n")
    )
    return [replace(c, workload=counts.get(c.worker.pk, 0)) for c in candidates]


def _with_last_assigned(candidates: list[Candidate], at: dt.datetime) -> list[Candidate]:
    if len(candidates) < 2:
        return candidates  # nobody to be fair to
    names = {c.worker.pk: c.worker.get_username() for c in candidates}
    # Through the orders now in their hands (indexed by worker), not by searching every
    # dispatch row's JSON for a name; an order taken away from someone since no longer
    # counts as theirs, which is fair to them.
    rows = TimelineEntry.objects.filter(
        order__worker_id__in=names,
        action__in=("dispatch", "assign"),
        at__gte=at - FAIRNESS_WINDOW,
        at__lte=at,
    ).values_list("order__worker_id", "data", "at")
    last: dict[int, dt.datetime] = {}
    for worker_id, data, when in rows:
        if isinstance(data, dict) and data.get("worker") == names[worker_id]:
            if worker_id not in last or when > last[worker_id]:
                last[worker_id] = when
    return [replace(c, last_assigned=last.get(c.worker.pk)) for c in candidates]
