"""Who is on duty: weekly shifts plus dated roster exceptions, in local time.

Rules (all times are wall-clock times in `settings.TIME_ZONE`):

- A weekly `Shift` on weekday W from `start` to `end` covers [start, end) of every date
  that is a W; an `end` at or before `start` runs into the next day, so a Monday
  22:00-06:00 shift covers Tuesday 03:00.
- A `RosterException` belongs to the shifts that *start* on its date. An OFF without times
  cancels the weekly shifts starting that day, their part after midnight included; an OFF
  with times (partial leave) cuts that interval out of them. An EXTRA adds a shift on that
  date (overnight as above) and is not cancelled by an OFF on the same date, which is how a
  swap is written: OFF plus EXTRA.
- Public holidays are not special: record them as OFF exceptions.

Start is inclusive and end exclusive, so with back-to-back shifts exactly one person's
shift holds at the change-over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.utils import timezone

from yunbao.org.models import Role, RosterException, Shift, Unit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from yunbao.geo.models import Area

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class DutySpan:
    """One stretch of duty, as aware datetimes in the local time zone; end exclusive."""

    start: dt.datetime
    end: dt.datetime
    extra: bool = False

    def __contains__(self, at: object) -> bool:
        return isinstance(at, dt.datetime) and self.start <= at < self.end


def on_duty(
    unit: Unit, area: Area | None, at: dt.datetime, *, role: str = Role.WORKER
) -> list[User]:
    """Active people of `unit` with `role` who are on shift at `at` and cover `area`.

    A person covers `area` when one of their profile's areas contains it (path prefix) or
    when they have no areas at all (they serve wherever their unit does). `area=None`
    skips the area test. Ordered by user id; four queries however many people match.
    """
    local = _local(at)
    days = (local.date() - _DAY, local.date())
    user_model = get_user_model()
    # The prefetches are filtered to the two dates that can hold a shift covering `at`;
    # `user.shifts.all()` below therefore returns only those rows, which is all we need.
    candidates = (
        user_model._default_manager.filter(
            is_active=True, profile__unit=unit, groups__name=str(role)
        )
        .distinct()
        .select_related("profile")
        .prefetch_related(
            "profile__areas",
            Prefetch("shifts", queryset=Shift.objects.filter(weekday__in=_weekdays(days))),
            Prefetch("roster_exceptions", queryset=RosterException.objects.filter(date__in=days)),
        )
        .order_by("pk")
    )
    result: list[User] = []
    for user in candidates:
        if area is not None and not _covers(list(user.profile.areas.all()), area):
            continue
        shifts = list(user.shifts.all())
        exceptions = list(user.roster_exceptions.all())
        if any(local in span for day in days for span in spans_of_day(day, shifts, exceptions)):
            result.append(user)
    return result


def is_on_duty(user: User, at: dt.datetime) -> bool:
    """Whether the roster has `user` on shift at `at` (an inactive account never is)."""
    if not user.is_active:
        return False
    local = _local(at)
    days = (local.date() - _DAY, local.date())
    shifts = list(Shift.objects.filter(user=user, weekday__in=_weekdays(days)))
    exceptions = list(RosterException.objects.filter(user=user, date__in=days))
    return any(local in span for day in days for span in spans_of_day(day, shifts, exceptions))


def shifts_at(user: User, day: dt.date) -> list[DutySpan]:
    """The user's stretches of duty that start on local date `day`, exceptions applied."""
    shifts = list(Shift.objects.filter(user=user, weekday=day.weekday()))
    exceptions = list(RosterException.objects.filter(user=user, date=day))
    return spans_of_day(day, shifts, exceptions)


def _local(at: dt.datetime) -> dt.datetime:
    if timezone.is_naive(at):
        raise ValueError("on-duty questions need an aware datetime (USE_TZ is on)")
    # The default (settings) zone, not the request's active one: rosters are written in it.
    return timezone.localtime(at, timezone.get_default_timezone())


def _weekdays(days: Iterable[dt.date]) -> list[int]:
    return sorted({day.weekday() for day in days})


def _interval(day: dt.date, start: dt.time, end: dt.time) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_default_timezone()
    end_day = day if end > start else day + _DAY
    return (
        timezone.make_aware(dt.datetime.combine(day, start), tz),
        timezone.make_aware(dt.datetime.combine(end_day, end), tz),
    )


def spans_of_day(
    day: dt.date, shifts: Iterable[Shift], exceptions: Iterable[RosterException]
) -> list[DutySpan]:
    """Duty starting on `day` from weekly `shifts` and dated `exceptions` (others ignored).

    Public so callers that read many people's rows in one query (attendance) apply the same
    rule as `on_duty` and `shifts_at`.
    """
    todays = [e for e in exceptions if e.date == day]
    offs = [e for e in todays if e.kind == RosterException.Kind.OFF]
    whole_day_off = any(e.start is None or e.end is None for e in offs)
    cuts = [
        _interval(day, e.start, e.end) for e in offs if e.start is not None and e.end is not None
    ]
    spans: list[DutySpan] = []
    if not whole_day_off:
        for shift in shifts:
            if shift.weekday == day.weekday():
                pieces = [_interval(day, shift.start, shift.end)]
                for cut in cuts:
                    pieces = [rest for piece in pieces for rest in _subtract(piece, cut)]
                spans.extend(DutySpan(start, end) for start, end in pieces)
    for extra in todays:
        if (
            extra.kind == RosterException.Kind.EXTRA
            and extra.start is not None
            and extra.end is not None
        ):
            spans.append(DutySpan(*_interval(day, extra.start, extra.end), extra=True))
    return sorted(spans)


def _subtract(
    piece: tuple[dt.datetime, dt.datetime], cut: tuple[dt.datetime, dt.datetime]
) -> list[tuple[dt.datetime, dt.datetime]]:
    start, end = piece
    cut_start, cut_end = cut
    if cut_end <= start or cut_start >= end:
        return [piece]
    rest = []
    if start < cut_start:
        rest.append((start, cut_start))
    if cut_end < end:
        rest.append((cut_end, end))
    return rest


def _covers(person_areas: list[Area], area: Area) -> bool:
    return not person_areas or any(mine.contains_area(area) for mine in person_areas)
