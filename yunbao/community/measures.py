"""Measuring the method: do activities turn residents into reporters? (共建共治)

- **Per activity** (`activity_measure`): its attendees (checked in), the *new reporters*
  among them — attendees whose first report ever (an intake `Submission` from their phone
  or account) came after the activity started and no later than `days` (default
  `NEW_REPORTER_DAYS`) after it ended — and the reports those new reporters sent since.
- **Per area and month** (`monthly`): activities held, sign-ups, distinct attendees, service
  hours, new reporters (distinct people, over that month's activities), and the orders
  reported in the area split by who reported them: residents (the report page or Open311,
  by someone without a staff role), staff (inspectors' reports and anything a staff
  account reported) and other sources (hotline, imports, the system), with the residents'
  share — the "multi-party co-governance" measure.

`dashboard_panel` puts both on the operations centre's dashboard (`yunbao.insight` calls it
with its filter; all logic stays here). Every figure is read from the rows as they are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from yunbao.community.models import Activity, ActivityStatus, Participant, SignUp, SignUpStatus
from yunbao.intake.models import Submission
from yunbao.org.models import Role
from yunbao.workorders.models import Source, WorkOrder

NEW_REPORTER_DAYS = 30
# Roles whose reports count as staff's, not residents' (an organiser reporting counts too).
STAFF_ROLES = tuple(r.value for r in Role if r not in (Role.RESIDENT,))
RESIDENT_SOURCES = (Source.RESIDENT, Source.OPEN311)
STAFF_SOURCES = (Source.INSPECTOR,)
DASHBOARD_MONTHS = 6
DASHBOARD_ACTIVITIES = 5


class Who(NamedTuple):
    """Who a participant is, as the report rows know them (a `Participant` fits too)."""

    pk: int
    device: str
    user_id: int | None


@dataclass
class ActivityMeasure:
    activity: Activity
    signed_up: int
    attendees: int
    hours: Decimal
    new_reporters: int
    their_reports: int
    new_reporter_ids: set[int] = field(default_factory=set)

    @property
    def conversion(self) -> float | None:
        return self.new_reporters / self.attendees if self.attendees else None


def _submissions_of(participants: Sequence[Participant | Who]) -> Any:
    devices = [p.device for p in participants if p.device]
    users = [p.user_id for p in participants if p.user_id]
    condition = Q(pk__in=[])
    if devices:
        condition |= Q(device__in=devices)
    if users:
        condition |= Q(user_id__in=users)
    return Submission.objects.filter(condition)


def _owner(participants: Sequence[Participant | Who]) -> Any:
    by_device = {p.device: p.pk for p in participants if p.device}
    by_user = {p.user_id: p.pk for p in participants if p.user_id}

    def owner(device: str, user_id: int | None) -> int | None:
        if user_id is not None and user_id in by_user:
            return by_user[user_id]
        return by_device.get(device)

    return owner


def first_reports(participants: Sequence[Participant | Who]) -> dict[int, dt.datetime]:
    """Each participant's first report time (participants who never reported are absent)."""
    owner = _owner(participants)
    firsts: dict[int, dt.datetime] = {}
    base = _submissions_of(participants)
    rows: list[tuple[str, int | None, dt.datetime]] = []
    rows += [
        (d, None, t)
        for d, t in base.values("device").annotate(t=Min("created_at")).values_list("device", "t")
    ]
    rows += [
        ("", u, t)
        for u, t in base.exclude(user_id=None)
        .values("user_id")
        .annotate(t=Min("created_at"))
        .values_list("user_id", "t")
    ]
    for device, user_id, at in rows:
        pid = owner(device, user_id)
        if pid is not None and (pid not in firsts or at < firsts[pid]):
            firsts[pid] = at
    return firsts


def activity_measure(activity: Activity, *, days: int = NEW_REPORTER_DAYS) -> ActivityMeasure:
    signups = list(
        SignUp.objects.filter(activity=activity, status=SignUpStatus.SIGNED_UP).select_related(
            "participant"
        )
    )
    attended = [s.participant for s in signups if s.checked_in_at is not None]
    limit = activity.ends_at + dt.timedelta(days=days)
    firsts = first_reports(attended)
    new = {pid for pid, at in firsts.items() if activity.starts_at <= at <= limit}
    newcomers = [p for p in attended if p.pk in new]
    reports = 0
    if newcomers:
        owner = _owner(newcomers)
        rows = _submissions_of(newcomers).filter(created_at__gte=activity.starts_at)
        reports = sum(1 for d, u in rows.values_list("device", "user_id") if owner(d, u) in new)
    return ActivityMeasure(
        activity=activity,
        signed_up=len(signups),
        attendees=len(attended),
        hours=sum((s.hours for s in signups), Decimal(0)),
        new_reporters=len(new),
        their_reports=reports,
        new_reporter_ids=new,
    )


@dataclass
class MonthRow:
    month: dt.date
    activities: int = 0
    signups: int = 0
    attendees: int = 0
    hours: Decimal = Decimal(0)
    new_reporters: int = 0
    resident_orders: int = 0
    staff_orders: int = 0
    other_orders: int = 0

    @property
    def orders(self) -> int:
        return self.resident_orders + self.staff_orders + self.other_orders

    @property
    def resident_share(self) -> float | None:
        return self.resident_orders / self.orders if self.orders else None


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    months = []
    month = start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def _months_before(month: dt.date, n: int) -> dt.date:
    """The first day of the month `n` months before `month`'s."""
    index = month.year * 12 + month.month - 1 - n
    return dt.date(index // 12, index % 12 + 1, 1)


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_default_timezone()
    first = dt.datetime.combine(start.replace(day=1), dt.time(), tz)
    after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz)
    return first, after


def _paths_q(field_name: str, paths: Iterable[str]) -> Q | None:
    paths = [p for p in paths if p]
    if not paths:
        return None
    return reduce(or_, (Q(**{f"{field_name}__startswith": p}) for p in paths))


def monthly(paths: Iterable[str], start: dt.date, end: dt.date) -> list[MonthRow]:
    """One row per month from `start`'s month to `end` (local days), for the areas with
    these materialised paths (none: everywhere)."""
    paths = list(paths)
    rows = {m: MonthRow(m) for m in _months(start, end)}
    first, after = _bounds(start, end)
    local = ZoneInfo(settings.TIME_ZONE)

    def key(at: dt.datetime) -> dt.date:
        return timezone.localtime(at, local).date().replace(day=1)

    activities = Activity.objects.filter(
        starts_at__gte=first,
        starts_at__lt=after,
        status__in=[ActivityStatus.PUBLISHED, ActivityStatus.CLOSED],
    )
    if (where := _paths_q("area__path", paths)) is not None:
        activities = activities.filter(where)
    # Everything in a few batched queries, whatever the number of activities: the
    # dashboard of a district covers hundreds of them.
    held = {a.pk: a for a in activities.only("pk", "starts_at", "ends_at")}
    # Plain tuples, not models: building thousands of models cost most of the time.
    signups = list(
        SignUp.objects.filter(activity_id__in=held, status=SignUpStatus.SIGNED_UP).values_list(
            "activity_id",
            "checked_in_at",
            "hours",
            "participant_id",
            "participant__device",
            "participant__user_id",
        )
    )
    who = {pid: Who(pid, device, uid) for _, at, _, pid, device, uid in signups if at}
    firsts = first_reports(list(who.values()))
    limit = dt.timedelta(days=NEW_REPORTER_DAYS)
    attendees: dict[dt.date, set[int]] = defaultdict(set)
    newcomers: dict[dt.date, set[int]] = defaultdict(set)
    month_of = {pk: key(a.starts_at) for pk, a in held.items()}
    for month in month_of.values():
        rows[month].activities += 1
    for activity_id, checked_in_at, hours, pid, _device, _uid in signups:
        activity = held[activity_id]
        month = month_of[activity_id]
        rows[month].signups += 1
        rows[month].hours += hours
        if checked_in_at is None:
            continue
        attendees[month].add(pid)
        at = firsts.get(pid)
        if at is not None and activity.starts_at <= at <= activity.ends_at + limit:
            newcomers[month].add(pid)
    for month, people in attendees.items():
        rows[month].attendees = len(people)
    for month, people in newcomers.items():
        rows[month].new_reporters = len(people)

    orders = WorkOrder.objects.filter(created_at__gte=first, created_at__lt=after)
    if (where := _paths_q("area_path", paths)) is not None:
        orders = orders.filter(where)
    staff_reporter = Exists(
        User.groups.through.objects.filter(
            user_id=OuterRef("reporter_id"), group__name__in=STAFF_ROLES
        )
    )
    grouped = (
        orders.annotate(month=TruncMonth("created_at", tzinfo=local), staff=staff_reporter)
        .values("month", "source", "staff")
        .annotate(n=Count("id"))
        .values_list("month", "source", "staff", "n")
    )
    for month, source, staff, n in grouped:
        month_day = month.date() if isinstance(month, dt.datetime) else month
        row = rows.get(month_day.replace(day=1))
        if row is None:
            continue
        if source in STAFF_SOURCES or (staff and source in RESIDENT_SOURCES):
            row.staff_orders += n
        elif source in RESIDENT_SOURCES:
            row.resident_orders += n
        else:
            row.other_orders += n
    return [rows[m] for m in sorted(rows)]


def dashboard_panel(f: Any, *, today: dt.date | None = None) -> dict[str, Any]:
    """The community figures for the operations centre's dashboard, for its filter `f`
    (an `insight.indicators.Filter`: `start`, `end`, `area_path`, and `paths` for several
    areas): up to `DASHBOARD_MONTHS` months ending at the filter's end, and the latest
    closed activities in its areas with their new reporters."""
    today = today or timezone.localdate()
    end = f.end or today
    earliest = _months_before(end.replace(day=1), DASHBOARD_MONTHS - 1)
    start = max(f.start or earliest, earliest)
    paths = tuple(getattr(f, "paths", ()) or ()) or ((f.area_path,) if f.area_path else ())
    recent = Activity.objects.filter(status=ActivityStatus.CLOSED).order_by("-starts_at")
    if (where := _paths_q("area__path", paths)) is not None:
        recent = recent.filter(where)
    return {
        "months": monthly(paths, start.replace(day=1), end),
        "activities": [activity_measure(a) for a in recent[:DASHBOARD_ACTIVITIES]],
        "days": NEW_REPORTER_DAYS,
    }
