"""Deadlines in working time across official holidays, day boundaries and time zones."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yunbao.lib import worktime
from yunbao.lib.worktime import WorkingCalendar, default_calendar, parse_working_hours

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
CAL = WorkingCalendar("08:30-12:00,14:00-17:30", "Asia/Shanghai")


def sh(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> dt.datetime:
    """A Shanghai wall-clock time as the UTC datetime the API takes and returns."""
    return dt.datetime(y, m, d, h, mi, s, tzinfo=SHANGHAI).astimezone(UTC)


def hours(start: dt.datetime, amount: float | Decimal) -> dt.datetime:
    return CAL.add(start, amount, "working_hours")


def days_range(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# --- The official calendar, as the State Council notices publish it -----------------------


@pytest.mark.parametrize(
    ("off_first", "off_last", "adjusted_workdays"),
    [
        # 2025 Spring Festival: Jan 28 – Feb 4 off; Sun Jan 26 and Sat Feb 8 are working days.
        (dt.date(2025, 1, 28), dt.date(2025, 2, 4), [dt.date(2025, 1, 26), dt.date(2025, 2, 8)]),
        # 2025 National Day + Mid-Autumn: Oct 1–8 off; Sun Sep 28 and Sat Oct 11 working.
        (dt.date(2025, 10, 1), dt.date(2025, 10, 8), [dt.date(2025, 9, 28), dt.date(2025, 10, 11)]),
        # 2026 Spring Festival: Feb 15–23 off; Sat Feb 14 and Sat Feb 28 working.
        (dt.date(2026, 2, 15), dt.date(2026, 2, 23), [dt.date(2026, 2, 14), dt.date(2026, 2, 28)]),
        # 2026 National Day: Oct 1–7 off; Sun Sep 20 and Sat Oct 10 working.
        (dt.date(2026, 10, 1), dt.date(2026, 10, 7), [dt.date(2026, 9, 20), dt.date(2026, 10, 10)]),
    ],
)
def test_it_knows_the_official_holidays_and_adjusted_workdays(
    off_first: dt.date, off_last: dt.date, adjusted_workdays: list[dt.date]
) -> None:
    for day in days_range(off_first, off_last):
        assert not worktime.is_workday(day), day
        assert chinese_calendar.get_holiday_detail(day)[0] is True, day
    for day in adjusted_workdays:
        assert day.weekday() >= 5, day  # really a weekend day made a working day
        assert worktime.is_workday(day), day
    # The days just around each break are working days (2026-02-14 is itself adjusted).
    assert worktime.is_workday(off_first - dt.timedelta(days=1))
    assert worktime.is_workday(off_last + dt.timedelta(days=1))


def test_it_knows_the_2026_mid_autumn_break_before_national_day() -> None:
    # 2026: Mid-Autumn Fri Sep 25 – Sun Sep 27 off, a separate break from National Day.
    days = days_range(dt.date(2026, 9, 24), dt.date(2026, 9, 28))
    assert [worktime.is_workday(d) for d in days] == [True, False, False, False, True]


# --- National Day ------------------------------------------------------------------------


def test_it_carries_a_deadline_over_the_2025_national_day_break() -> None:
    # Tue Sep 30 16:30 + 2 h: one hour before the break, one after it on Thu Oct 9.
    assert hours(sh(2025, 9, 30, 16, 30), 2) == sh(2025, 10, 9, 9, 30)
    assert CAL.add(sh(2025, 9, 30, 10), 1, "working_days") == sh(2025, 10, 9, 10)
    assert CAL.working_seconds_between(sh(2025, 9, 30, 17, 30), sh(2025, 10, 9, 8, 30)) == 0


def test_it_starts_on_the_first_working_morning_when_created_during_the_2025_holiday() -> None:
    assert CAL.add(sh(2025, 10, 3, 10), 1, "working_days") == sh(2025, 10, 9, 17, 30)
    assert CAL.next_working_moment(sh(2025, 10, 1, 9)) == sh(2025, 10, 9, 8, 30)


def test_it_counts_the_2025_adjusted_working_weekend_days() -> None:
    # Sat Sep 27 is off, Sun Sep 28 is a working day.
    assert hours(sh(2025, 9, 27, 10), 1) == sh(2025, 9, 28, 9, 30)
    # Fri Oct 10 17:00 + 1 h spills onto the working Saturday Oct 11.
    assert hours(sh(2025, 10, 10, 17), 1) == sh(2025, 10, 11, 9)
    # ...but the Sunday after it is off again.
    assert hours(sh(2025, 10, 11, 17), 1) == sh(2025, 10, 13, 9)


def test_it_carries_a_deadline_over_the_2026_national_day_break() -> None:
    assert hours(sh(2026, 9, 30, 17), 1) == sh(2026, 10, 8, 9)
    assert CAL.add(sh(2026, 9, 30, 10), 2, "working_days") == sh(2026, 10, 9, 10)


def test_it_counts_the_2026_adjusted_working_weekend_days() -> None:
    assert hours(sh(2026, 9, 19, 10), 1) == sh(2026, 9, 20, 9, 30)  # Sat off, Sun working
    assert hours(sh(2026, 10, 9, 17, 30), Decimal("0.5")) == sh(2026, 10, 10, 9)  # Sat working
    # Thu Sep 24 17:00 + 1 h: Mid-Autumn Fri–Sun off, resumes Mon Sep 28.
    assert hours(sh(2026, 9, 24, 17), 1) == sh(2026, 9, 28, 9)


# --- Spring Festival ---------------------------------------------------------------------


def test_it_carries_a_deadline_over_the_2025_spring_festival() -> None:
    assert hours(sh(2025, 1, 27, 17), 1) == sh(2025, 2, 5, 9)
    assert hours(sh(2025, 1, 25, 10), 1) == sh(2025, 1, 26, 9, 30)  # Sun Jan 26 working
    assert hours(sh(2025, 2, 7, 17, 30), 1) == sh(2025, 2, 8, 9, 30)  # Sat Feb 8 working
    assert CAL.working_seconds_between(sh(2025, 1, 27, 17), sh(2025, 2, 5, 9)) == 3600


def test_it_carries_a_deadline_over_the_2026_spring_festival() -> None:
    assert hours(sh(2026, 2, 13, 17), 1) == sh(2026, 2, 14, 9)  # Sat Feb 14 working
    assert hours(sh(2026, 2, 14, 17), 1) == sh(2026, 2, 24, 9)  # nine days off
    # Fri Feb 27 17:00 + 1 working day: 0.5 h Friday, 6.5 h on the working Sat Feb 28.
    assert CAL.add(sh(2026, 2, 27, 17), 1, "working_days") == sh(2026, 2, 28, 17)


# --- Working hours at the boundaries of the day (Mon 2025-03-10 is an ordinary Monday) ----


@pytest.mark.parametrize(
    ("start", "amount", "deadline"),
    [
        (sh(2025, 3, 10, 8, 30), 1, sh(2025, 3, 10, 9, 30)),  # at opening
        (sh(2025, 3, 10, 8, 30), 3.5, sh(2025, 3, 10, 12)),  # ends at lunch, stays there
        (sh(2025, 3, 10, 16, 30), 1, sh(2025, 3, 10, 17, 30)),  # ends at close, stays there
        (sh(2025, 3, 10, 12), 1, sh(2025, 3, 10, 15)),  # at start of lunch
        (sh(2025, 3, 10, 12, 45), 1, sh(2025, 3, 10, 15)),  # during lunch
        (sh(2025, 3, 10, 11, 30), 1, sh(2025, 3, 10, 14, 30)),  # spans lunch
        (sh(2025, 3, 10, 17, 30), 1, sh(2025, 3, 11, 9, 30)),  # at close
        (sh(2025, 3, 10, 0, 0), 1, sh(2025, 3, 10, 9, 30)),  # at midnight
        (sh(2025, 3, 10, 7, 0), 0, sh(2025, 3, 10, 8, 30)),  # zero: the next working moment
        (sh(2025, 3, 10, 17, 0), 2, sh(2025, 3, 11, 10)),  # spills to the next morning
        (sh(2025, 3, 10, 17, 29, 59), 1, sh(2025, 3, 11, 9, 29, 59)),  # last second
        (sh(2025, 3, 14, 17), 1, sh(2025, 3, 17, 9)),  # Friday evening to Monday
        (sh(2025, 3, 10, 10), Decimal("1.25"), sh(2025, 3, 10, 11, 15)),
    ],
)
def test_it_counts_working_hours_at_day_boundaries(
    start: dt.datetime, amount: float, deadline: dt.datetime
) -> None:
    assert hours(start, amount) == deadline


def test_it_makes_one_working_day_the_same_time_next_working_day() -> None:
    assert CAL.day_length == dt.timedelta(hours=7)
    assert CAL.add(sh(2025, 3, 10, 10), 1, "working_days") == sh(2025, 3, 11, 10)
    assert CAL.add(sh(2025, 3, 10, 8, 30), 1, "working_days") == sh(2025, 3, 10, 17, 30)
    assert CAL.add(sh(2025, 3, 10, 10), 10, "working_days") == sh(2025, 3, 24, 10)
    assert CAL.add(sh(2025, 3, 10, 10), 0.5, "working_days") == sh(2025, 3, 10, 15, 30)


def test_it_steps_by_interval_not_by_minute() -> None:
    looked_up: list[dt.date] = []

    def workday(day: dt.date) -> bool:
        looked_up.append(day)
        return worktime.is_workday(day)

    calendar = WorkingCalendar("08:30-12:00,14:00-17:30", "Asia/Shanghai", workday)
    assert calendar.add(sh(2025, 3, 10, 10), 10, "working_days") == sh(2025, 3, 24, 10)
    # One look-up per calendar day walked (15 days), not one per minute.
    assert len(looked_up) == 15


def test_it_ignores_holidays_and_hours_for_natural_hours() -> None:
    assert CAL.add(sh(2025, 10, 1, 10), 48, "natural_hours") == sh(2025, 10, 3, 10)
    assert CAL.add(sh(2025, 3, 10, 23), 1.5, "natural_hours") == sh(2025, 3, 11, 0, 30)


def test_it_reports_working_time_and_next_working_moments() -> None:
    assert CAL.is_working_time(sh(2025, 3, 10, 8, 30))
    assert not CAL.is_working_time(sh(2025, 3, 10, 8, 29, 59))
    assert CAL.is_working_time(sh(2025, 3, 10, 11, 59))
    assert not CAL.is_working_time(sh(2025, 3, 10, 12))
    assert not CAL.is_working_time(sh(2025, 3, 10, 17, 30))
    assert not CAL.is_working_time(sh(2025, 3, 15, 10))  # Saturday
    assert not CAL.is_working_time(sh(2025, 10, 2, 10))  # National Day
    assert CAL.next_working_moment(sh(2025, 3, 10, 10)) == sh(2025, 3, 10, 10)
    assert CAL.next_working_moment(sh(2025, 3, 10, 12)) == sh(2025, 3, 10, 14)
    assert CAL.next_working_moment(sh(2025, 3, 10, 17, 30)) == sh(2025, 3, 11, 8, 30)
    assert CAL.next_working_moment(sh(2025, 3, 14, 18)) == sh(2025, 3, 17, 8, 30)


def test_it_measures_working_seconds_between_two_moments() -> None:
    assert CAL.working_seconds_between(sh(2025, 3, 10, 10), sh(2025, 3, 11, 10)) == 7 * 3600
    assert CAL.working_seconds_between(sh(2025, 3, 11, 10), sh(2025, 3, 10, 10)) == -7 * 3600
    assert CAL.working_seconds_between(sh(2025, 3, 10, 12), sh(2025, 3, 10, 14)) == 0
    assert CAL.working_seconds_between(sh(2025, 3, 14, 17), sh(2025, 3, 17, 9)) == 3600


# --- Time zones ----------------------------------------------------------------------------


def test_it_reads_utc_as_shanghai_time_and_answers_in_utc() -> None:
    start = dt.datetime(2025, 3, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert CAL.is_working_time(start)
    deadline = CAL.add(start, 1, "working_hours")
    assert deadline == dt.datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
    assert deadline.tzinfo is UTC
    # 00:00 UTC is 08:00 Shanghai: before opening, so counting starts at 00:30 UTC.
    assert CAL.next_working_moment(dt.datetime(2025, 3, 10, 0, 0, tzinfo=UTC)) == dt.datetime(
        2025, 3, 10, 0, 30, tzinfo=UTC
    )


def test_it_accepts_any_aware_time_zone_and_refuses_naive_datetimes() -> None:
    new_york = dt.datetime(2025, 3, 9, 21, 0, tzinfo=ZoneInfo("America/New_York"))  # 09:00 SH
    assert CAL.add(new_york, 1, "working_hours") == sh(2025, 3, 10, 10)
    with pytest.raises(ValueError, match="aware"):
        CAL.add(dt.datetime(2025, 3, 10, 9), 1, "working_hours")


def test_it_takes_the_calendar_from_django_settings(settings) -> None:
    settings.YUNBAO_WORKING_HOURS = "09:00-17:00"
    settings.TIME_ZONE = "Asia/Shanghai"
    calendar = default_calendar()
    assert calendar.day_length == dt.timedelta(hours=8)
    assert calendar.add(sh(2025, 3, 10, 16), 2, "working_hours") == sh(2025, 3, 11, 10)


# --- Outside the package's data -----------------------------------------------------------


def test_it_falls_back_to_monday_to_friday_and_warns_once(monkeypatch, caplog) -> None:
    monkeypatch.setattr(worktime, "_fallback_warned", False)
    with caplog.at_level(logging.WARNING, logger="yunbao.lib.worktime"):
        # 1999 predates the package's data; Mon 1999-03-01 .. Sun 03-07.
        week = [worktime.is_workday(dt.date(1999, 3, d)) for d in range(1, 8)]
        assert CAL.add(sh(1999, 3, 5, 17), 1, "working_hours") == sh(1999, 3, 8, 9)
    assert week == [True, True, True, True, True, False, False]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "1999-03-01" in warnings[0].getMessage()


# --- Parsing and bad input ----------------------------------------------------------------


def test_it_parses_working_hours_in_any_order() -> None:
    assert parse_working_hours(" 14:00-17:30 , 8:30-12:00 ") == (
        (dt.timedelta(hours=8, minutes=30), dt.timedelta(hours=12)),
        (dt.timedelta(hours=14), dt.timedelta(hours=17, minutes=30)),
    )
    assert parse_working_hours("00:00-24:00") == ((dt.timedelta(0), dt.timedelta(hours=24)),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no intervals"),
        ("08:30", "not an interval"),
        ("08:30-12:00-13:00", "not an interval"),
        ("8h30-12:00", "not a time like 08:30"),
        ("08:30-12:60", "not a valid time"),
        ("08:30-25:00", "not a valid time"),
        ("12:00-08:30", "ends before it starts"),
        ("08:30-08:30", "ends before it starts"),
        ("22:00-06:00", "ends before it starts"),
        ("08:30-12:00,11:00-14:00", "08:30-12:00 and 11:00-14:00 overlap"),
    ],
)
def test_it_refuses_bad_working_hours_clearly(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(text, "Asia/Shanghai")


@pytest.mark.parametrize(
    ("amount", "unit", "message"),
    [
        (1, "hours", "unknown unit"),
        (-1, "working_hours", "negative"),
        (float("nan"), "working_hours", "finite"),
        ("soon", "working_hours", "not a number"),
    ],
)
def test_it_refuses_bad_amounts_and_units(amount: object, unit: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CAL.add(sh(2025, 3, 10, 10), amount, unit)  # type: ignore[arg-type]


def test_it_gives_up_when_no_day_is_ever_a_working_day() -> None:
    never = WorkingCalendar("08:30-12:00", "Asia/Shanghai", lambda day: False)
    with pytest.raises(ValueError, match="no working day"):
        never.add(sh(2025, 3, 10, 10), 1, "working_hours")


# --- Properties ------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=dt.datetime(2024, 1, 1),  # hypothesis attaches the zone
    max_value=dt.datetime(2026, 10, 31),
    timezones=st.just(UTC),
)
amounts = st.decimals(min_value=0, max_value=200, places=2)
property_settings = settings(database=None, deadline=None)


@property_settings
@given(start=starts, amount=amounts)
def test_it_never_returns_a_deadline_before_the_start(start: dt.datetime, amount: Decimal) -> None:
    for unit in worktime.UNITS:
        assert CAL.add(start, amount, unit) >= start


@property_settings
@given(start=starts, a=amounts, b=amounts)
def test_it_is_monotonic_in_the_amount(start: dt.datetime, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    for unit in worktime.UNITS:
        assert CAL.add(start, low, unit) <= CAL.add(start, high, unit)


@property_settings
@given(start=starts, amount=amounts)
def test_it_adds_exactly_the_working_time_asked_for(start: dt.datetime, amount: Decimal) -> None:
    deadline = CAL.add(start, amount, "working_hours")
    begin = CAL.next_working_moment(start)
    assert CAL.working_seconds_between(begin, deadline) == float(amount * 3600)


@property_settings
@given(start=starts, amount=st.floats(min_value=0, max_value=200, allow_nan=False))
def test_it_adds_float_hours_to_the_microsecond(start: dt.datetime, amount: float) -> None:
    deadline = CAL.add(start, amount, "working_hours")
    elapsed = CAL.working_seconds_between(CAL.next_working_moment(start), deadline)
    assert elapsed == pytest.approx(amount * 3600, abs=1e-6)


@property_settings
@given(start=starts, a=amounts, b=amounts.filter(lambda b: b > 0))
def test_it_adds_in_steps_as_in_one_go(start: dt.datetime, a: Decimal, b: Decimal) -> None:
    assert hours(hours(start, a), b) == hours(start, a + b)
