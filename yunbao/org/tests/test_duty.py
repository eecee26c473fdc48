"""Who is on duty: weekly shifts, overnight shifts, days off, extra shifts, areas, zones."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from yunbao.org.actions import create_staff
from yunbao.org.duty import is_on_duty, on_duty, shifts_at
from yunbao.org.models import Role, RosterException, Shift, Weekday
from yunbao.org.tests.conftest import Place

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2025, 3, 3)
OFF, EXTRA = RosterException.Kind.OFF, RosterException.Kind.EXTRA


@pytest.fixture(autouse=True)
def _shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """Local time on MONDAY + `day` days."""
    date = MONDAY + dt.timedelta(days=day)
    return dt.datetime.combine(date, dt.time(hour, minute, second), tzinfo=SHANGHAI)


def worker(place: Place, name: str, **kwargs: Any) -> User:
    kwargs.setdefault("unit", place.unit)
    kwargs.setdefault("roles", [Role.WORKER])
    return create_staff(username=name, **kwargs)


def shift(user: User, weekday: int, start: int, end: int) -> Shift:
    return Shift.objects.create(
        user=user, weekday=weekday, start=dt.time(start), end=dt.time(end % 24)
    )


def names(users: list[User]) -> list[str]:
    return [user.username for user in users]


def test_it_counts_a_day_shift_from_its_start_up_to_its_end(place: Place) -> None:
    assert MONDAY.weekday() == Weekday.MONDAY
    wang = worker(place, "wang")
    shift(wang, Weekday.MONDAY, 8, 17)

    assert names(on_duty(place.unit, None, at(0, 8))) == ["wang"]
    assert names(on_duty(place.unit, None, at(0, 16, 59, 59))) == ["wang"]
    assert on_duty(place.unit, None, at(0, 17)) == []
    assert on_duty(place.unit, None, at(0, 7, 59, 59)) == []
    assert on_duty(place.unit, None, at(1, 8)) == []  # Tuesday
    assert on_duty(place.unit, None, at(7, 8)) != []  # next Monday


def test_it_continues_an_overnight_shift_after_midnight(place: Place) -> None:
    li = worker(place, "li")
    shift(li, Weekday.MONDAY, 22, 6)

    assert names(on_duty(place.unit, None, at(0, 22))) == ["li"]
    assert names(on_duty(place.unit, None, at(1, 3))) == ["li"]  # Tuesday 03:00
    assert on_duty(place.unit, None, at(1, 6)) == []
    assert on_duty(place.unit, None, at(0, 3)) == []  # Monday 03:00: no Sunday shift
    assert on_duty(place.unit, None, at(0, 21, 59)) == []


def test_a_day_off_cancels_the_shift_starting_that_day_with_its_overnight_tail(
    place: Place,
) -> None:
    li = worker(place, "li")
    shift(li, Weekday.MONDAY, 22, 6)
    shift(li, Weekday.TUESDAY, 22, 6)
    RosterException.objects.create(user=li, date=MONDAY, kind=OFF)

    assert on_duty(place.unit, None, at(0, 23)) == []
    assert on_duty(place.unit, None, at(1, 3)) == []  # Monday's shift, past midnight
    assert names(on_duty(place.unit, None, at(1, 23))) == ["li"]  # Tuesday's shift stands

    # An OFF on Tuesday does not touch the tail of Monday's shift.
    zhao = worker(place, "zhao")
    shift(zhao, Weekday.MONDAY, 22, 6)
    RosterException.objects.create(user=zhao, date=MONDAY + dt.timedelta(days=1), kind=OFF)
    assert names(on_duty(place.unit, None, at(1, 3))) == ["zhao"]


def test_part_of_a_day_off_cuts_that_interval_out(place: Place) -> None:
    sun = worker(place, "sun")
    shift(sun, Weekday.MONDAY, 8, 17)
    RosterException.objects.create(
        user=sun, date=MONDAY, kind=OFF, start=dt.time(12), end=dt.time(14)
    )
    assert names(on_duty(place.unit, None, at(0, 11, 59))) == ["sun"]
    assert on_duty(place.unit, None, at(0, 12, 30)) == []
    assert names(on_duty(place.unit, None, at(0, 14))) == ["sun"]


def test_an_extra_shift_adds_duty_even_overnight_and_on_a_day_off(place: Place) -> None:
    qian = worker(place, "qian")
    wednesday = MONDAY + dt.timedelta(days=2)
    RosterException.objects.create(
        user=qian, date=wednesday, kind=EXTRA, start=dt.time(20), end=dt.time(2)
    )
    RosterException.objects.create(user=qian, date=wednesday, kind=OFF)

    assert on_duty(place.unit, None, at(2, 19, 59)) == []
    assert names(on_duty(place.unit, None, at(2, 21))) == ["qian"]
    assert names(on_duty(place.unit, None, at(3, 1, 59))) == ["qian"]
    assert on_duty(place.unit, None, at(3, 2)) == []


def test_it_only_returns_people_of_the_unit_with_the_role(place: Place) -> None:
    ours = worker(place, "ours")
    theirs = worker(place, "theirs", unit=place.other_unit)
    boss = worker(place, "boss", roles=[Role.SUPERVISOR])
    for user in (ours, theirs, boss):
        shift(user, Weekday.MONDAY, 8, 17)

    assert names(on_duty(place.unit, None, at(0, 9))) == ["ours"]
    assert names(on_duty(place.other_unit, None, at(0, 9))) == ["theirs"]
    assert names(on_duty(place.unit, None, at(0, 9), role=Role.SUPERVISOR)) == ["boss"]


def test_it_only_returns_people_whose_areas_cover_the_place(place: Place) -> None:
    in_a = worker(place, "in-a", areas=[place.street_a])
    in_b = worker(place, "in-b", areas=[place.grid_b])
    anywhere = worker(place, "anywhere")
    for user in (in_a, in_b, anywhere):
        shift(user, Weekday.MONDAY, 8, 17)

    assert names(on_duty(place.unit, place.grid_a, at(0, 9))) == ["in-a", "anywhere"]
    assert names(on_duty(place.unit, place.grid_b, at(0, 9))) == ["in-b", "anywhere"]
    # A grid person does not cover the street around their grid.
    assert names(on_duty(place.unit, place.street_b, at(0, 9))) == ["anywhere"]
    assert names(on_duty(place.unit, None, at(0, 9))) == ["in-a", "in-b", "anywhere"]


def test_it_leaves_out_inactive_accounts(place: Place) -> None:
    gone = worker(place, "gone")
    shift(gone, Weekday.MONDAY, 8, 17)
    gone.is_active = False
    gone.save()
    assert on_duty(place.unit, None, at(0, 9)) == []
    assert not is_on_duty(gone, at(0, 9))


def test_it_reads_an_instant_in_the_local_time_zone(place: Place) -> None:
    early = worker(place, "early")
    shift(early, Weekday.TUESDAY, 7, 15)
    late = worker(place, "late")
    shift(late, Weekday.MONDAY, 22, 24)  # 22:00-00:00

    instant = dt.datetime(2025, 3, 3, 23, 30, tzinfo=dt.UTC)  # Tuesday 07:30 in Shanghai
    assert names(on_duty(place.unit, None, instant)) == ["early"]
    assert is_on_duty(early, instant)
    assert not is_on_duty(late, instant)

    with pytest.raises(ValueError, match="aware"):
        on_duty(place.unit, None, dt.datetime(2025, 3, 3, 9))


def test_it_asks_a_fixed_number_of_queries(place: Place, django_assert_num_queries: Any) -> None:
    for n in range(6):
        user = worker(place, f"w{n}", areas=[place.street_a] if n % 2 else [])
        shift(user, Weekday.MONDAY, 8, 17)
        shift(user, Weekday.SUNDAY, 22, 6)
        RosterException.objects.create(user=user, date=MONDAY, kind=OFF, note=str(n))
        RosterException.objects.create(
            user=user, date=MONDAY, kind=EXTRA, start=dt.time(9), end=dt.time(10)
        )
    with django_assert_num_queries(4):
        found = on_duty(place.unit, place.grid_a, at(0, 9, 30))
    assert len(found) == 6


def test_it_lists_the_stretches_of_duty_of_a_day(place: Place) -> None:
    zhou = worker(place, "zhou")
    shift(zhou, Weekday.MONDAY, 14, 22)
    shift(zhou, Weekday.MONDAY, 6, 10)
    RosterException.objects.create(
        user=zhou, date=MONDAY, kind=EXTRA, start=dt.time(23), end=dt.time(1)
    )
    spans = shifts_at(zhou, MONDAY)
    assert [(s.start, s.end, s.extra) for s in spans] == [
        (at(0, 6), at(0, 10), False),
        (at(0, 14), at(0, 22), False),
        (at(0, 23), at(1, 1), True),
    ]
    assert at(0, 23, 30) in spans[2]
    assert shifts_at(zhou, MONDAY + dt.timedelta(days=1)) == []


def test_it_asks_for_the_hours_an_extra_shift_needs() -> None:
    with pytest.raises(ValidationError):
        RosterException(date=MONDAY, kind=EXTRA, start=dt.time(8)).clean()
    with pytest.raises(ValidationError):
        RosterException(date=MONDAY, kind=OFF, end=dt.time(8)).clean()
    RosterException(date=MONDAY, kind=OFF).clean()
