"""Choosing the field worker: who of the responsible unit is on duty here, and nearest.

The candidates are `yunbao.org.duty.on_duty(unit, area, at)`: the unit's active field
workers on shift at that moment whose service areas cover the area (see "Who is on duty,
fast" below for how it is asked). They are ranked by

1. distance from the problem to their last known position (`positions.latest_positions`),
   in whole metres, so people placed at the same spot tie exactly; unknown positions last;
2. open workload: how many orders are dispatched to them or in progress (one grouped query);
3. fairness among equals: the one assigned least recently first (their latest "dispatch" or
   "assign" timeline entry within `FAIRNESS_WINDOW` on an order still theirs; none counts as
   longest ago);
4. the user id, so the answer is the same in every process.

Workload and fairness cost a query each and only decide between people tied on the earlier
keys, so they are computed for the people who can still reach the first `detail` places
(the top 3 shown to the dispatcher), not for everyone on duty. The workload query is plain
SQL (`open_workload`): the database answers it from the (worker, status) index far faster
than the ORM compiled it.

Who is on duty, fast
--------------------
`on_duty` builds every member of the unit with their profile, areas, shifts and
exceptions: about 20 ms for a unit of 125, far too slow to ask per decision at hundreds of
decisions a second. Yet the answer can only change at a roster boundary — the start or end
of a shift or roster exception, or local midnight — or when a roster or a person is edited.
So `people_on_duty` asks `on_duty(unit, None, at)` once and keeps the answer per unit for
the stretch between the boundaries around `at` (read from the unit's shift and exception
times: two small queries), then keeps the people whose areas cover the area, by the same
test `on_duty` applies (looked up by area path in the pool, not tested person by person).
The answer is exact at every instant, 16:59:59 or 17:00:00 alike.
Edits to shifts, exceptions, profiles, accounts or roles clear this process's copy at once;
other processes notice within `DUTY_TTL` seconds, as with the routing rules.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import takewhile
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Case, F, Max, Q, When
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from yunbao.dispatch.positions import Position, latest_positions
from yunbao.geo.models import Area
from yunbao.intake.dedupe import haversine_m
from yunbao.org.duty import on_duty
from yunbao.org.models import Role, RosterException, Shift, StaffProfile, Unit
from yunbao.workorders.models import Status, TimelineEntry, WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "FAIRNESS_WINDOW",
    "NOBODY_ON_DUTY",
    "Assignment",
    "Candidate",
    "choose_worker",
    "clear_duty_cache",
    "display_name",
    "open_workload",
    "people_on_duty",
]

# Assignments older than this no longer count for fairness: someone last assigned a month
# ago has waited long enough, whoever else has, and the look-back stays a bounded query.
FAIRNESS_WINDOW = dt.timedelta(days=30)
# The statuses in which an order is in a worker's hands.
IN_HAND = (Status.DISPATCHED, Status.IN_PROGRESS)
# The timeline actions that give someone an order.
ASSIGNING = ("dispatch", "assign")
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
    people = people_on_duty(unit, area, at)
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
    ranking = _refine(
        ranking, by_workload, lambda cs: _with_last_assigned(cs, at), limit, ties_only=True
    )
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
    *,
    ties_only: bool = False,
) -> list[Candidate]:
    """Apply the next ranking key to the people who may still reach the first `limit` places.

    `ranking` is sorted by `key` (then id); everyone whose `key` equals or beats the
    `limit`-th person's can end up in front, so `compute` fills in the next figure for them
    and they are sorted again. The rest keep their places behind. With `ties_only`, only
    people sharing their `key` with someone else need the figure (it only breaks ties).
    """
    cutoff = key(ranking[min(limit, len(ranking)) - 1])
    head = list(takewhile(lambda c: key(c) <= cutoff, ranking))
    tail = ranking[len(head) :]
    if ties_only:
        counts = Counter(key(c) for c in head)
        tied = [c for c in head if counts[key(c)] > 1]
        if tied:
            done = {c.worker.pk: c for c in compute(tied)}
            head = [done.get(c.worker.pk, c) for c in head]
    else:
        head = compute(head)
    head.sort(key=lambda c: (key(c), c.workload or 0, _recency(c), c.worker.pk))
    return head + tail


def _recency(c: Candidate) -> tuple[bool, dt.datetime]:
    # Never (or not lately) assigned comes first: they have waited longest.
    return (c.last_assigned is not None, c.last_assigned or dt.datetime.min.replace(tzinfo=dt.UTC))


def _with_workload(candidates: list[Candidate]) -> list[Candidate]:
    counts = open_workload([c.worker.pk for c in candidates])
    return [replace(c, workload=counts.get(c.worker.pk, 0)) for c in candidates]


def open_workload(worker_ids: list[int]) -> dict[int, int]:
    """How many orders each of these workers has in hand (absent: none), by user id.

    What `WorkOrder.objects.filter(worker_id__in=…, status__in=IN_HAND).values("worker_id")
    .annotate(Count("id"))` answers, written as SQL: every automatic decision asks, the
    database answers from the (worker, status) index in a tenth of a millisecond, and the
    ORM took ten times that to compile the grouped query (a test compares the two).
    """
    if not worker_ids:
        return {}
    meta = WorkOrder._meta
    connection = connections[WorkOrder.objects.db]
    quote = connection.ops.quote_name
    columns = {f.name: f.column for f in meta.concrete_fields if f.column}
    worker = quote(columns["worker"])
    # Only quoted names and placeholders are formatted in; every value is a parameter.
    sql = (
        f"SELECT {worker}, COUNT(*) FROM {quote(meta.db_table)}"  # noqa: S608
        f" WHERE {worker} IN ({', '.join(['%s'] * len(worker_ids))})"
        f" AND {quote(columns['status'])} IN ({', '.join(['%s'] * len(IN_HAND))})"
        f" GROUP BY {worker}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*worker_ids, *IN_HAND])
        return {int(worker_id): int(n) for worker_id, n in cursor.fetchall()}


def _with_last_assigned(candidates: list[Candidate], at: dt.datetime) -> list[Candidate]:
    since = at - FAIRNESS_WINDOW
    # For an order someone holds now, its latest "dispatch" or "assign" row is the one that
    # gave it to them, so the latest such row over their orders is when they were last
    # assigned. Only orders moved within the window can have one there (every move saves
    # the order, so `updated_at` is at least its latest row's time); their rows are read by
    # the order index. The action and time are tested inside the aggregate, not in WHERE:
    # given them there, both databases (before their statistics catch up) walk the
    # (action, time) index over every recent move of the district instead. An order taken
    # away from someone since no longer counts as theirs, which is fair to them.
    theirs = WorkOrder.objects.filter(
        worker_id__in=[c.worker.pk for c in candidates], updated_at__gte=since
    ).values("pk")
    assigning = Q(action__in=ASSIGNING, at__gte=since, at__lte=at)
    last = dict(
        TimelineEntry.objects.filter(order_id__in=theirs)
        .order_by()
        .values("order__worker_id")
        .annotate(last=Max(Case(When(assigning, then=F("at")))))
        .values_list("order__worker_id", "last")
    )
    return [replace(c, last_assigned=last.get(c.worker.pk)) for c in candidates]


# --- Who is on duty, fast (see the module docstring) ----------------------------------------

DUTY_TTL = 10.0


@dataclass(frozen=True)
class _Pool:
    """Who of a unit is on duty throughout [start, end), read at `loaded_at` (monotonic)."""

    start: dt.datetime
    end: dt.datetime
    # Each person with the paths of their areas (empty: they serve the whole unit).
    people: list[tuple[User, tuple[str, ...]]]
    loaded_at: float
    # Positions in `people` by each of their area paths, and of those who serve everywhere:
    # who covers an area is then a few dict probes, not a test of everyone on duty.
    by_path: dict[str, list[int]] = field(default_factory=dict)
    everywhere: list[int] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        start: dt.datetime,
        end: dt.datetime,
        people: list[tuple[User, tuple[str, ...]]],
        loaded_at: float,
    ) -> _Pool:
        by_path: dict[str, list[int]] = {}
        everywhere = []
        for i, (_person, paths) in enumerate(people):
            if not paths:
                everywhere.append(i)
            for path in set(paths):
                by_path.setdefault(path, []).append(i)
        return cls(start, end, people, loaded_at, by_path, everywhere)

    def covering(self, path: str) -> list[User]:
        """The people whose areas contain the area at `path` or who serve everywhere, in
        pool order: those with an area path that `path` starts with (`Area.contains_area`)."""
        found = set(self.everywhere)
        for end in range(len(path) + 1):
            found.update(self.by_path.get(path[:end], ()))
        return [self.people[i][0] for i in sorted(found)]


_duty_lock = threading.Lock()
_pools: dict[tuple[int, str], _Pool] = {}
# Bumped by every clear, so a pool read before an edit is not kept after it.
_duty_generation = 0


def clear_duty_cache(**kwargs: Any) -> None:
    """Forget who is on duty (this process); also the receiver of roster and staff edits."""
    global _duty_generation
    with _duty_lock:
        _pools.clear()
        _duty_generation += 1


_user_model = get_user_model()
for _model in (Shift, RosterException, StaffProfile, _user_model):
    post_save.connect(clear_duty_cache, sender=_model, dispatch_uid=f"dispatch-duty-{_model}")
    post_delete.connect(clear_duty_cache, sender=_model, dispatch_uid=f"dispatch-duty-d-{_model}")
for _through in (StaffProfile.areas.through, _user_model.groups.through):
    m2m_changed.connect(clear_duty_cache, sender=_through, dispatch_uid=f"dispatch-duty-{_through}")


def people_on_duty(
    unit: Unit, area: Area | None, at: dt.datetime, *, role: str = Role.WORKER
) -> list[User]:
    """Exactly `on_duty(unit, area, at, role=role)`, asked once per stretch of the roster."""
    key = (unit.pk, str(role))
    now = time.monotonic()
    pool = _pools.get(key)
    if pool is None or not pool.start <= at < pool.end or now - pool.loaded_at > DUTY_TTL:
        generation = _duty_generation
        start, end = _stretch(unit, at)
        people = [
            (person, tuple(a.path for a in person.profile.areas.all()))  # prefetched
            for person in on_duty(unit, None, at, role=role)
        ]
        pool = _Pool.of(start, end, people, now)
        with _duty_lock:
            if generation == _duty_generation:
                _pools[key] = pool
    if area is None:
        return [person for person, _paths in pool.people]
    # org.duty's own test: a person covers the area when one of their areas contains it
    # (`Area.contains_area`: a path prefix), or when they have none (they serve wherever
    # their unit does).
    return pool.covering(area.path)


def _stretch(unit: Unit, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The boundaries of the roster around `at`: nobody's duty starts or ends in between.

    `on_duty` at `at` looks at the shifts and exceptions that start on the local date of
    `at` and the day before; every span it builds starts and ends at one of their times (on
    that date or the next) or at an exception's. Those instants, plus the local midnights
    that move the two-day window, bound a stretch in which its answer cannot change.
    """
    tz = timezone.get_default_timezone()
    today = timezone.localtime(at, tz).date()
    days = [today + dt.timedelta(days=d) for d in (-1, 0, 1)]

    def instant(day: dt.date, moment: dt.time) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, moment), tz)

    instants = {instant(today + dt.timedelta(days=d), dt.time(0)) for d in (-1, 0, 1, 2)}
    weekdays = {day.weekday(): day for day in days}
    shifts = (
        Shift.objects.filter(user__profile__unit=unit, weekday__in=list(weekdays))
        .values_list("weekday", "start", "end")
        .distinct()
    )
    for weekday, begins, ends in shifts:
        day = weekdays[weekday]
        instants.add(instant(day, begins))
        instants.add(instant(day if ends > begins else day + dt.timedelta(days=1), ends))
    exceptions = (
        RosterException.objects.filter(
            user__profile__unit=unit, date__in=days, start__isnull=False, end__isnull=False
        )
        .values_list("date", "start", "end")
        .distinct()
    )
    for day, off_or_extra_start, off_or_extra_end in exceptions:
        if off_or_extra_start is None or off_or_extra_end is None:
            continue  # filtered out above; a whole day off moves no boundary of its own
        instants.add(instant(day, off_or_extra_start))
        next_day = day if off_or_extra_end > off_or_extra_start else day + dt.timedelta(days=1)
        instants.add(instant(next_day, off_or_extra_end))
    return max(i for i in instants if i <= at), min(i for i in instants if i > at)
