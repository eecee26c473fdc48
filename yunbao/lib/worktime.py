"""Deadlines in working time: working hours of the day on official Chinese working days.

A working day is decided by the `chinesecalendar` package, which knows the public holidays
and the adjusted working Saturdays/Sundays (调休) the State Council announces each year.
For a year the package has no data for, we fall back to Monday–Friday and log a warning
once, so a deadline is never refused only because the package is out of date.

Working hours are intervals of the local day such as ``"08:30-12:00,14:00-17:30"``.
Every public function takes and returns aware datetimes (any time zone in, UTC out); the
local calendar decides which wall-clock intervals count, and arithmetic is done on absolute
time so a daylight-saving change (not in China, but in a configured zone) cannot skew it.

This module does not import Django; only `default_calendar()` reads Django settings, lazily.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import chinese_calendar

logger = logging.getLogger(__name__)

UTC = dt.UTC
WORKING_HOURS = "working_hours"
WORKING_DAYS = "working_days"
NATURAL_HOURS = "natural_hours"
UNITS: tuple[str, ...] = (WORKING_HOURS, WORKING_DAYS, NATURAL_HOURS)

# An interval is (start, end) as offsets from local midnight, so "24:00" can end a day.
Interval = tuple[dt.timedelta, dt.timedelta]

_DAY = dt.timedelta(days=1)
_MICROSECOND = dt.timedelta(microseconds=1)
_HOUR_US = 3_600_000_000
# A calendar whose workday function never says yes would make `add` loop forever; no real
# calendar has two years without a working day, so stop there with an error instead.
_MAX_IDLE_DAYS = 2 * 366
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_fallback_warned = False


def is_workday(day: dt.date) -> bool:
    """Whether `day` is an official working day in mainland China.

    Outside the years `chinesecalendar` has data for, Monday–Friday are working days.
    """
    global _fallback_warned
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        if not _fallback_warned:
            # Once per process: every deadline in that year would repeat the same message.
            _fallback_warned = True
            logger.warning(
                "No official holiday data for %s (%s); counting Monday–Friday as working days. "
                "Upgrade the chinesecalendar package.",
                day.isoformat(),
                exc,
            )
        return day.weekday() < 5


def _fmt(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_time(text: str, whole: str) -> dt.timedelta:
    match = _TIME_RE.match(text.strip())
    if not match:
        raise ValueError(f"working hours {whole!r}: {text.strip()!r} is not a time like 08:30")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"working hours {whole!r}: {text.strip()!r} is not a valid time of day")
    return dt.timedelta(hours=hours, minutes=minutes)


def parse_working_hours(text: str) -> tuple[Interval, ...]:
    """Parse ``"08:30-12:00,14:00-17:30"`` into sorted (start, end) offsets from midnight.

    Raises ValueError naming the bad part on an empty text, a malformed interval, an end
    not after its start (overnight intervals are not supported: split them at 24:00) or
    overlapping intervals.
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError(f"working hours {text!r}: no intervals (expected e.g. 08:30-12:00)")
    intervals: list[Interval] = []
    for part in parts:
        ends = part.split("-")
        if len(ends) != 2:
            raise ValueError(
                f"working hours {text!r}: {part!r} is not an interval like 08:30-12:00"
            )
        intervals.append((_parse_time(ends[0], text), _parse_time(ends[1], text)))
    return check_intervals(intervals, text)


def check_intervals(intervals: Sequence[Interval], label: str = "") -> tuple[Interval, ...]:
    """Sort and validate parsed intervals; ValueError on an empty, inverted or overlap."""
    prefix = f"working hours {label!r}: " if label else "working hours: "
    if not intervals:
        raise ValueError(f"{prefix}no intervals (expected e.g. 08:30-12:00)")
    for start, end in intervals:
        if start < dt.timedelta() or end > _DAY:
            raise ValueError(f"{prefix}{_fmt(start)}-{_fmt(end)} is not within one day")
        if end <= start:
            raise ValueError(f"{prefix}{_fmt(start)}-{_fmt(end)} ends before it starts")
    ordered = sorted(intervals)
    for (s1, e1), (s2, e2) in pairwise(ordered):
        if s2 < e1:
            raise ValueError(f"{prefix}{_fmt(s1)}-{_fmt(e1)} and {_fmt(s2)}-{_fmt(e2)} overlap")
    return tuple(ordered)


def _to_decimal(amount: Decimal | float | int) -> Decimal:
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite number: {amount!r}")
    if value < 0:
        raise ValueError(f"amount must not be negative: {amount!r}")
    return value


def _duration(value: Decimal, unit_microseconds: int) -> dt.timedelta:
    """`value` units of `unit_microseconds` each, rounded to the microsecond."""
    # Decimal, not float, so 0.1 working days is exactly 42 minutes.
    microseconds = int((value * unit_microseconds).to_integral_value(rounding=ROUND_HALF_EVEN))
    try:
        return dt.timedelta(microseconds=microseconds)
    except OverflowError as exc:
        raise ValueError(f"amount too large: {value}") from exc


def _aware(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class WorkingCalendar:
    """Working hours (`intervals`, local wall time in `tz`) on working days.

    `intervals` is text like ``"08:30-12:00,14:00-17:30"`` or already parsed intervals;
    `tz` a zone name or ZoneInfo; `workday` decides working days (default: the official
    Chinese calendar, see `is_workday`).
    """

    def __init__(
        self,
        intervals: str | Sequence[Interval],
        tz: str | dt.tzinfo,
        workday: Callable[[dt.date], bool] = is_workday,
    ) -> None:
        self.intervals: tuple[Interval, ...] = (
            parse_working_hours(intervals)
            if isinstance(intervals, str)
            else check_intervals(intervals)
        )
        self.tz: dt.tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.workday = workday
        self.day_length: dt.timedelta = sum(
            (end - start for start, end in self.intervals), dt.timedelta()
        )

    def __repr__(self) -> str:
        hours = ",".join(f"{_fmt(s)}-{_fmt(e)}" for s, e in self.intervals)
        return f"WorkingCalendar({hours!r}, {str(self.tz)!r})"

    def _local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def segments(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The working intervals of local `day` as (start, end) in UTC; none on a day off."""
        if not self.workday(day):
            return []
        midnight = dt.datetime.combine(day, dt.time())
        result = []
        for start, end in self.intervals:
            # Naive wall-clock arithmetic, then localise: 24:00 becomes next midnight.
            s = (midnight + start).replace(tzinfo=self.tz).astimezone(UTC)
            e = (midnight + end).replace(tzinfo=self.tz).astimezone(UTC)
            if e > s:  # an interval swallowed by a DST jump has no working time
                result.append((s, e))
        return result

    def _segments_from(self, moment: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working segments ending after `moment` (UTC), in order, without end."""
        day = self._local_date(moment)
        idle = 0
        while True:
            found = False
            for s, e in self.segments(day):
                found = True
                if e > moment:
                    yield s, e
            idle = 0 if found else idle + 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"no working day within {_MAX_IDLE_DAYS} days after {day}")
            day += _DAY

    def is_working_time(self, moment: dt.datetime) -> bool:
        """Whether `moment` is within working hours of a working day (ends excluded)."""
        at = _aware(moment, "moment")
        return any(s <= at < e for s, e in self.segments(self._local_date(at)))

    def next_working_moment(self, moment: dt.datetime) -> dt.datetime:
        """`moment` itself if it is working time, else the start of the next working interval.

        The end of an interval is not working time: 12:00 → 14:00, 17:30 → next morning.
        """
        at = _aware(moment, "moment")
        s, _ = next(self._segments_from(at))
        return max(s, at)

    def add(self, start: dt.datetime, amount: Decimal | float | int, unit: str) -> dt.datetime:
        """The deadline `amount` `unit`s after `start`, in UTC.

        `unit` is ``"working_hours"``, ``"working_days"`` (one day is `day_length` of working
        time, so one working day from Monday 10:00 is Tuesday 10:00) or ``"natural_hours"``
        (wall time, holidays ignored). Working time starts counting at the next working
        moment; a deadline exactly at the end of an interval stays there.
        """
        at = _aware(start, "start")
        value = _to_decimal(amount)
        if unit == NATURAL_HOURS:
            return at + _duration(value, _HOUR_US)
        if unit == WORKING_DAYS:
            remaining = _duration(value, self.day_length // _MICROSECOND)
        elif unit == WORKING_HOURS:
            remaining = _duration(value, _HOUR_US)
        else:
            raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
        # One step per working interval, never per minute: ten working days are ~20 steps.
        for s, e in self._segments_from(at):
            cursor = max(s, at)
            available = e - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        raise AssertionError("unreachable: _segments_from never ends")  # pragma: no cover

    def working_seconds_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Seconds of working time from `a` to `b`; negative when `b` is before `a`."""
        start, end = _aware(a, "a"), _aware(b, "b")
        if end < start:
            return -self.working_seconds_between(b, a)
        total = dt.timedelta()
        day = self._local_date(start)
        last = self._local_date(end)
        while day <= last:
            for s, e in self.segments(day):
                overlap = min(e, end) - max(s, start)
                if overlap > dt.timedelta():
                    total += overlap
            day += _DAY
        return total.total_seconds()


@lru_cache(maxsize=8)
def _calendar_for(hours: str, tz: str) -> WorkingCalendar:
    return WorkingCalendar(hours, tz)


def default_calendar() -> WorkingCalendar:
    """The calendar of settings.YUNBAO_WORKING_HOURS in settings.TIME_ZONE."""
    from django.conf import settings

    # Keyed by the setting values, so override_settings in tests gets a fresh calendar.
    return _calendar_for(settings.YUNBAO_WORKING_HOURS, settings.TIME_ZONE)
