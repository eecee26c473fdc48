"""Attendance (考勤) from badges and rosters: on time, late, left early, absent, out of the
area; shift boundaries and grace, overnight shifts, days off, partial days, two badges,
invalid fixes; the on-duty rate; the out-of-area alert, once per excursion."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User

from yunbao.fleet import attendance
from yunbao.fleet.attendance import (
    Status,
    alert_out_of_area,
    on_duty_rate,
    person_day,
    unit_day,
)
from yunbao.fleet.models import Device, DeviceKind, Position, Protocol
from yunbao.notify.models import Channel, Endpoint, Message
from yunbao.org.actions import create_staff
from yunbao.org.models import Role, RosterException, Shift, Weekday
from yunbao.testing import World

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2025, 3, 3)
TUESDAY = MONDAY + dt.timedelta(days=1)
# Street one's two grids, street two's grid, and a point in no grid at all.
IN = (23.0005, 113.0005)
IN_B = (23.0005, 113.0015)
OUT = (23.0005, 113.0105)
NOWHERE = (23.5, 113.5)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    attendance._untold.clear()  # the process's memory of excursions nobody could be told of
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.YUNBAO_FLEET_ATTENDANCE_GRACE_MINUTES = 10
    settings.YUNBAO_FLEET_OUT_OF_AREA_MINUTES = 15
    settings.YUNBAO_FLEET_COVERAGE_MINUTES = 10
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = False
    settings.YUNBAO_NOTIFY_EMAIL = False


def at(hour: int, minute: int = 0, second: int = 0, *, day: dt.date = MONDAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=SHANGHAI)


LATER = at(23, 59, day=MONDAY + dt.timedelta(days=2))  # long after Monday's shifts


def badge(user: User, name: str = "") -> Device:
    name = name or f"badge-{user.username}"
    return Device.objects.create(
        kind=DeviceKind.BADGE, protocol=Protocol.OSMAND, identifier=name, name=name, staff=user
    )


def fixes(
    device: Device,
    points: Iterable[tuple[dt.datetime, tuple[float, float]]],
    *,
    valid: bool = True,
) -> None:
    Position.objects.bulk_create(
        Position(
            device=device,
            fixed_at=when,
            received_at=when,
            lat=lat,
            lon=lon,
            valid=valid,
        )
        for when, (lat, lon) in points
    )


def every(
    start: dt.datetime, end: dt.datetime, point: tuple[float, float], minutes: int = 5
) -> list[tuple[dt.datetime, tuple[float, float]]]:
    """A fix at `point` every `minutes` from `start` to `end`, both included."""
    result = []
    when = start
    while when <= end:
        result.append((when, point))
        when += dt.timedelta(minutes=minutes)
    return result


def shift(user: User, weekday: int, start: str, end: str) -> Shift:
    return Shift.objects.create(
        user=user,
        weekday=weekday,
        start=dt.time.fromisoformat(start),
        end=dt.time.fromisoformat(end),
    )


@pytest.fixture
def bob(world: World) -> User:
    """Bob works Monday 08:00-17:00 in street one."""
    user = world.users["bob"]
    shift(user, Weekday.MONDAY, "08:00", "17:00")
    return user


def status_of(user: User, *, day: dt.date = MONDAY, now: dt.datetime = LATER) -> str:
    return person_day(user, day, now=now).status


# --- One stretch ---------------------------------------------------------------------------


def test_a_full_day_in_the_area_is_on_duty(bob: User) -> None:
    fixes(badge(bob), every(at(7, 55), at(17, 5), IN))

    day = person_day(bob, MONDAY, now=LATER)

    assert day.status == Status.ON_DUTY
    assert day.first_in == at(7, 55)
    assert day.last_in == at(17, 5)
    assert day.out_minutes == 0
    assert day.excursions == ()
    assert day.final
    assert not day.late
    assert not day.left_early


def test_a_fix_in_another_grid_of_the_same_street_is_in_the_area(bob: User) -> None:
    fixes(badge(bob), every(at(8), at(17), IN_B, minutes=30))

    assert status_of(bob) == Status.ON_DUTY


def test_arriving_after_the_grace_is_late_and_at_the_grace_on_time(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    for user in (bob, bill):
        shift(user, Weekday.MONDAY, "08:00", "17:00")
    fixes(badge(bob), [(at(8, 10), IN), *every(at(9), at(17), IN, 60)])
    fixes(badge(bill), [(at(8, 10, 1), IN), *every(at(9), at(17), IN, 60)])

    assert status_of(bob) == Status.ON_DUTY  # exactly start + grace
    late = person_day(bill, MONDAY, now=LATER)
    assert late.status == Status.LATE
    assert late.first_in == at(8, 10, 1)


def test_a_fix_just_before_the_window_does_not_count(bob: User) -> None:
    # 07:50 is start − grace, the first moment that counts; 07:49:59 is outside the window.
    device = badge(bob)
    fixes(device, [(at(7, 49, 59), IN), (at(8, 30), IN), (at(17), IN)])

    day = person_day(bob, MONDAY, now=LATER)
    assert day.status == Status.LATE
    assert day.first_in == at(8, 30)

    fixes(device, [(at(7, 50), IN)])
    assert person_day(bob, MONDAY, now=LATER).first_in == at(7, 50)
    assert status_of(bob) == Status.ON_DUTY


def test_leaving_before_the_grace_is_left_early_and_at_the_grace_not(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    for user in (bob, bill):
        shift(user, Weekday.MONDAY, "08:00", "17:00")
    fixes(badge(bob), [*every(at(8), at(16), IN, 60), (at(16, 50), IN)])
    fixes(badge(bill), [*every(at(8), at(16), IN, 60), (at(16, 49, 59), IN)])

    assert status_of(bob) == Status.ON_DUTY  # exactly end − grace
    early = person_day(bill, MONDAY, now=LATER)
    assert early.status == Status.LEFT_EARLY
    assert early.last_in == at(16, 49, 59)


def test_a_fix_up_to_the_grace_after_the_end_counts_but_not_later(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    for user in (bob, bill):
        shift(user, Weekday.MONDAY, "08:00", "17:00")
    # Both badges were silent in the afternoon; a last fix at end + grace still shows them.
    fixes(badge(bob), [(at(8), IN), (at(17, 10), IN)])
    fixes(badge(bill), [(at(8), IN), (at(12), IN), (at(17, 10, 1), IN)])

    assert status_of(bob) == Status.ON_DUTY
    bill_day = person_day(bill, MONDAY, now=LATER)
    assert bill_day.status == Status.LEFT_EARLY
    assert bill_day.last_in == at(12)


def test_late_and_left_early_shows_late_with_both_marks(bob: User) -> None:
    fixes(badge(bob), every(at(9), at(15), IN, 30))

    day = person_day(bob, MONDAY, now=LATER)
    assert day.status == Status.LATE
    assert day.late
    assert day.left_early


def test_no_fix_or_only_fixes_outside_is_absent(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    for user in (bob, bill):
        shift(user, Weekday.MONDAY, "08:00", "17:00")
    badge(bob)
    fixes(badge(bill), every(at(8), at(17), OUT, 30) + every(at(8), at(17), NOWHERE, 30))

    assert status_of(bob) == Status.ABSENT
    bill_day = person_day(bill, MONDAY, now=LATER)
    assert bill_day.status == Status.ABSENT
    assert bill_day.first_in is None
    assert bill_day.out_minutes == 0  # not arrived: absence, not an excursion


def test_time_outside_before_arriving_is_lateness_not_an_excursion(bob: User) -> None:
    fixes(badge(bob), every(at(7, 50), at(8, 40), OUT) + every(at(8, 45), at(17), IN))

    day = person_day(bob, MONDAY, now=LATER)
    assert day.status == Status.LATE
    assert day.first_in == at(8, 45)
    assert day.out_minutes == 0
    assert day.excursions == ()


def test_no_shift_is_off(world: World) -> None:
    fixes(badge(world.users["bill"]), every(at(8), at(17), IN, 60))

    assert status_of(world.users["bill"]) == Status.OFF


def test_invalid_fixes_are_ignored(bob: User) -> None:
    device = badge(bob)
    fixes(device, every(at(8), at(17), IN, 30), valid=False)

    assert status_of(bob) == Status.ABSENT

    fixes(device, [(at(8, 5), IN), (at(17), IN)])
    assert status_of(bob) == Status.ON_DUTY


def test_impossible_coordinates_are_ignored_and_logged(
    bob: User, caplog: pytest.LogCaptureFixture
) -> None:
    device = badge(bob)
    fixes(device, [(at(8), IN), (at(9), (95.0, 113.0)), (at(10), (23.0, 200.0)), (at(17), IN)])

    with caplog.at_level(logging.WARNING, logger="yunbao.fleet.attendance"):
        day = person_day(bob, MONDAY, now=LATER)

    assert day.status == Status.ON_DUTY
    assert day.out_minutes == 0
    assert "2 fixes with impossible coordinates" in caplog.text


# --- Out of the area -----------------------------------------------------------------------


def test_a_long_run_outside_is_an_excursion_and_a_short_one_only_minutes(bob: User) -> None:
    fixes(
        badge(bob),
        every(at(8), at(9, 55), IN)
        + every(at(10), at(10, 25), OUT)  # back at 10:30: 30 minutes out
        + every(at(10, 30), at(11, 55), IN)
        + every(at(12), at(12, 5), NOWHERE)  # back at 12:10: 10 minutes out
        + every(at(12, 10), at(17), IN),
    )

    day = person_day(bob, MONDAY, now=LATER)

    assert day.status == Status.ON_DUTY
    assert day.out_minutes == pytest.approx(40)
    [excursion] = day.excursions
    assert (excursion.start, excursion.back) == (at(10), at(10, 30))
    assert excursion.minutes == pytest.approx(30)


def test_an_excursion_of_exactly_the_threshold_is_not_one(bob: User) -> None:
    fixes(
        badge(bob),
        every(at(8), at(9, 55), IN)
        + every(at(10), at(10, 10), OUT)
        + every(at(10, 15), at(17), IN),
    )

    day = person_day(bob, MONDAY, now=LATER)
    assert day.out_minutes == pytest.approx(15)
    assert day.excursions == ()


def test_leaving_for_good_is_left_early_and_out_until_the_end(bob: User) -> None:
    fixes(badge(bob), every(at(8), at(14, 55), IN) + every(at(15), at(18), OUT))

    day = person_day(bob, MONDAY, now=LATER)
    assert day.status == Status.LEFT_EARLY
    [excursion] = day.excursions
    assert excursion.open
    assert excursion.start == at(15)
    assert excursion.until == at(17)
    assert day.out_minutes == pytest.approx(120)


def test_a_running_shift_is_judged_on_what_came_so_far(bob: User) -> None:
    fixes(badge(bob), every(at(7, 55), at(10), IN) + every(at(10, 5), at(10, 40), OUT))

    before = person_day(bob, MONDAY, now=at(7, 30))
    assert before.status == Status.UPCOMING
    assert not before.scheduled

    early = person_day(bob, MONDAY, now=at(10, 30))
    assert early.status == Status.ON_DUTY
    assert not early.final
    [excursion] = early.excursions  # 10:05 to now, 25 minutes, still out
    assert excursion.open
    assert excursion.until == at(10, 30)
    assert early.out_minutes == pytest.approx(25)


def test_not_there_at_the_start_is_upcoming_within_the_grace_then_absent(bob: User) -> None:
    badge(bob)
    assert status_of(bob, now=at(8, 10)) == Status.UPCOMING
    assert status_of(bob, now=at(8, 10, 1)) == Status.ABSENT


# --- Rosters: overnight, days off, partial days, extra shifts ------------------------------


def test_an_overnight_shift_belongs_to_the_day_it_starts(world: World) -> None:
    li = create_staff(username="li", roles=[Role.WORKER], unit=world.unit1, areas=[world.street1])
    shift(li, Weekday.MONDAY, "22:00", "06:00")
    fixes(
        badge(li),
        every(at(21, 55), at(23, 55), IN) + every(at(0, day=TUESDAY), at(6, 5, day=TUESDAY), IN),
    )

    monday = person_day(li, MONDAY, now=LATER)
    assert monday.status == Status.ON_DUTY
    assert monday.first_in == at(21, 55)
    assert monday.last_in == at(6, 5, day=TUESDAY)
    assert monday.spans[0].overnight
    # Tuesday has no shift of its own: the night's second half is not Tuesday's.
    assert person_day(li, TUESDAY, now=LATER).status == Status.OFF


def test_an_overnight_shift_left_at_three_is_left_early_and_out_after_midnight(
    world: World,
) -> None:
    li = create_staff(username="li", roles=[Role.WORKER], unit=world.unit1, areas=[world.street1])
    shift(li, Weekday.MONDAY, "22:00", "06:00")
    fixes(
        badge(li),
        every(at(22), at(23, 55), IN)
        + every(at(0, day=TUESDAY), at(2, 55, day=TUESDAY), IN)
        + every(at(3, day=TUESDAY), at(7, day=TUESDAY), OUT),
    )

    day = person_day(li, MONDAY, now=LATER)
    assert day.status == Status.LEFT_EARLY
    [excursion] = day.excursions
    assert excursion.start == at(3, day=TUESDAY)
    assert excursion.until == at(6, day=TUESDAY)
    assert day.out_minutes == pytest.approx(180)


def test_a_day_off_means_off_whatever_the_badge_says(bob: User) -> None:
    RosterException.objects.create(user=bob, date=MONDAY, kind=RosterException.Kind.OFF)
    badge(bob)

    assert status_of(bob) == Status.OFF


def test_a_partial_day_off_splits_the_shift_and_the_gap_is_not_out_of_area(bob: User) -> None:
    RosterException.objects.create(
        user=bob,
        date=MONDAY,
        kind=RosterException.Kind.OFF,
        start=dt.time(12),
        end=dt.time(14),
    )
    fixes(
        badge(bob),
        every(at(8), at(11, 55), IN) + every(at(12), at(13, 55), OUT) + every(at(14), at(17), IN),
    )

    day = person_day(bob, MONDAY, now=LATER)
    assert [(s.span.start, s.span.end) for s in day.spans] == [(at(8), at(12)), (at(14), at(17))]
    assert day.status == Status.ON_DUTY
    assert day.out_minutes == 0
    assert day.excursions == ()


def test_skipping_the_second_half_of_a_partial_day_is_absent(bob: User) -> None:
    RosterException.objects.create(
        user=bob,
        date=MONDAY,
        kind=RosterException.Kind.OFF,
        start=dt.time(12),
        end=dt.time(14),
    )
    fixes(badge(bob), every(at(8), at(12), IN))

    day = person_day(bob, MONDAY, now=LATER)
    assert [s.status for s in day.spans] == [Status.ON_DUTY, Status.ABSENT]
    assert day.status == Status.ABSENT


def test_an_extra_shift_is_judged_like_any_other(world: World) -> None:
    bill = world.users["bill"]
    RosterException.objects.create(
        user=bill,
        date=MONDAY,
        kind=RosterException.Kind.EXTRA,
        start=dt.time(18),
        end=dt.time(20),
    )
    fixes(badge(bill), every(at(18, 20), at(20), IN))

    day = person_day(bill, MONDAY, now=LATER)
    assert day.status == Status.LATE
    assert day.spans[0].span.extra


# --- Badges --------------------------------------------------------------------------------


def test_two_badges_of_one_person_are_read_together(bob: User) -> None:
    # The morning on the first badge, the afternoon on the second (a swap at lunch).
    fixes(badge(bob, "morning"), every(at(7, 55), at(12), IN))
    fixes(badge(bob, "afternoon"), every(at(12, 5), at(17), IN_B))

    day = person_day(bob, MONDAY, now=LATER)
    assert day.status == Status.ON_DUTY
    assert (day.first_in, day.last_in) == (at(7, 55), at(17))
    assert set(day.badges) == {"morning", "afternoon"}


def test_a_badge_left_at_home_does_not_send_its_owner_out(bob: User) -> None:
    fixes(badge(bob, "worn"), every(at(8), at(17), IN))
    fixes(badge(bob, "at-home"), every(at(8, 2), at(17, 2), NOWHERE))

    day = person_day(bob, MONDAY, now=LATER)
    assert day.status == Status.ON_DUTY
    assert day.out_minutes == 0


def test_a_silent_badge_stops_vouching_for_its_owner(bob: User) -> None:
    # The first badge is left in the area at 10:00 and falls silent; the person walks out
    # with the second one. After FLEET_COVERAGE_MINUTES the first no longer counts.
    fixes(badge(bob, "left-behind"), every(at(8), at(10), IN))
    fixes(
        badge(bob, "carried"),
        every(at(8), at(10), IN) + every(at(10, 5), at(11), OUT) + every(at(11, 5), at(17), IN),
    )

    day = person_day(bob, MONDAY, now=LATER)
    [excursion] = day.excursions
    # 10:05 and 10:10 are within ten minutes of the left-behind badge's last fix.
    assert excursion.start == at(10, 15)
    assert excursion.back == at(11, 5)


def test_a_person_without_own_areas_works_in_the_units(world: World) -> None:
    wu = create_staff(username="wu", roles=[Role.WORKER], unit=world.unit1)
    shift(wu, Weekday.MONDAY, "08:00", "17:00")
    fixes(badge(wu), every(at(8), at(10), IN) + every(at(10, 5), at(17), OUT))

    day = person_day(wu, MONDAY, now=LATER)
    assert day.status == Status.LEFT_EARLY
    assert len(day.excursions) == 1


# --- The unit's day and its on-duty rate ---------------------------------------------------


def test_the_on_duty_rate_counts_who_came_among_those_scheduled(world: World) -> None:
    unit = world.unit1
    people = {
        name: create_staff(username=name, roles=[Role.WORKER], unit=unit, areas=[world.street1])
        for name in ("p_on", "p_late", "p_early", "p_absent", "p_off")
    }
    people["bob"], people["bill"] = world.users["bob"], world.users["bill"]
    for name in ("p_on", "p_late", "p_early", "p_absent", "bob"):
        shift(people[name], Weekday.MONDAY, "08:00", "17:00")
    RosterException.objects.create(user=people["bob"], date=MONDAY, kind=RosterException.Kind.OFF)
    fixes(badge(people["p_on"]), every(at(8), at(17), IN, 30))
    fixes(badge(people["p_late"]), every(at(9), at(17), IN, 30))
    fixes(badge(people["p_early"]), every(at(8), at(15), IN, 30))
    badge(people["p_absent"])
    # Walt belongs to unit two: not counted here whatever he does.
    shift(world.users["walt"], Weekday.MONDAY, "08:00", "17:00")

    result = unit_day(unit, MONDAY, now=LATER)

    statuses = {p.user.username: p.status for p in result.people}
    assert statuses == {
        "p_on": Status.ON_DUTY,
        "p_late": Status.LATE,
        "p_early": Status.LEFT_EARLY,
        "p_absent": Status.ABSENT,
        "p_off": Status.OFF,
        "bob": Status.OFF,
        "bill": Status.OFF,
    }
    assert (result.present, result.scheduled) == (3, 4)
    assert result.rate == pytest.approx(0.75)
    assert on_duty_rate(unit, MONDAY, now=LATER) == pytest.approx(0.75)
    assert on_duty_rate(world.unit2, MONDAY, now=LATER) == 0.0  # walt scheduled, absent
    assert result.only([people["p_on"].pk, people["p_absent"].pk]).rate == pytest.approx(0.5)


def test_the_rate_is_none_when_nobody_is_scheduled(world: World) -> None:
    assert on_duty_rate(world.unit1, MONDAY, now=LATER) is None


def test_the_rate_counts_only_shifts_that_have_begun(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    shift(bob, Weekday.MONDAY, "08:00", "12:00")
    shift(bill, Weekday.MONDAY, "13:00", "17:00")
    fixes(badge(bob), every(at(8), at(10), IN))
    badge(bill)

    at_ten = unit_day(world.unit1, MONDAY, now=at(10))
    assert (at_ten.present, at_ten.scheduled) == (1, 1)
    assert {p.user.username: p.status for p in at_ten.people}["bill"] == Status.UPCOMING


def test_a_units_day_reads_its_fixes_in_a_fixed_number_of_queries(
    world: World, django_assert_max_num_queries: Any
) -> None:
    for i in range(12):
        user = create_staff(
            username=f"w{i}", roles=[Role.WORKER], unit=world.unit1, areas=[world.street1]
        )
        shift(user, Weekday.MONDAY, "08:00", "17:00")
        fixes(badge(user), every(at(8), at(17), IN if i % 2 else OUT, 15))
    unit_day(world.unit1, MONDAY, now=LATER)  # warms the geo index

    with django_assert_max_num_queries(8):
        result = unit_day(world.unit1, MONDAY, now=LATER)
    assert result.scheduled == 12
    assert result.present == 6


# --- Alerts --------------------------------------------------------------------------------


@pytest.fixture
def watched(world: World, bob: User) -> World:
    """Carol leads unit one and has a webhook; unit one has a group robot."""
    world.unit1.leader = world.users["carol"]
    world.unit1.save()
    Endpoint.objects.create(
        kind=Channel.WEBHOOK,
        address="https://carol.example/hook",
        secret="s",
        user=world.users["carol"],
    )
    Endpoint.objects.create(
        kind=Channel.WEBHOOK, address="https://unit1.example/hook", secret="s", unit=world.unit1
    )
    return world


def out_of_area_messages() -> list[Message]:
    return list(Message.objects.filter(dedupe_key__startswith="fleet-out-of-area:").order_by("pk"))


def test_an_excursion_is_alerted_once_to_the_leader_and_the_unit(watched: World) -> None:
    bob = watched.users["bob"]
    fixes(badge(bob), every(at(8), at(9, 55), IN) + every(at(10), at(10, 40), OUT))

    assert "0 alerted" in alert_out_of_area(at(10, 15))  # 15 minutes: not yet
    assert out_of_area_messages() == []

    summary = alert_out_of_area(at(10, 16))
    assert "1 alerted" in summary

    messages = out_of_area_messages()
    assert {(m.recipient.username if m.recipient else "unit") for m in messages} == {
        "carol",
        "unit",
    }
    assert all(m.event == "unit_alert" for m in messages)
    assert all("bob" in m.body and "10:00" in m.body for m in messages)
    assert messages[0].payload["data"]["event"] == "out_of_area"

    # Still out a minute and an hour later: the same excursion, nothing new.
    assert "0 alerted, 1 already alerted" in alert_out_of_area(at(10, 17))
    assert "1 already alerted" in alert_out_of_area(at(10, 40))
    assert len(out_of_area_messages()) == 2


def test_a_short_excursion_is_not_alerted_and_a_second_long_one_is(watched: World) -> None:
    bob = watched.users["bob"]
    fixes(
        badge(bob),
        every(at(8), at(9, 55), IN)
        + every(at(10), at(10, 5), OUT)  # ten minutes
        + every(at(10, 10), at(10, 55), IN)
        + every(at(11), at(11, 30), OUT)
        + every(at(11, 35), at(12, 55), IN)
        + every(at(13), at(13, 30), OUT)
        + every(at(13, 35), at(17), IN),
    )

    alert_out_of_area(at(10, 30))
    assert out_of_area_messages() == []
    alert_out_of_area(at(11, 20))
    alert_out_of_area(at(13, 20))
    keys = {m.dedupe_key for m in out_of_area_messages()}
    assert len(keys) == 2  # one per excursion, two targets each
    assert len(out_of_area_messages()) == 4


def test_an_excursion_that_ended_between_two_runs_is_still_alerted(watched: World) -> None:
    # The worker was down from 10:00 to 11:00; the excursion ended at 10:40.
    bob = watched.users["bob"]
    fixes(badge(bob), every(at(8), at(9, 55), IN) + every(at(10), at(10, 35), OUT))
    fixes(Device.objects.get(staff=bob), every(at(10, 40), at(11), IN))

    assert "1 alerted" in alert_out_of_area(at(11))
    [message, _unit] = out_of_area_messages()
    assert "10:40" in message.body


def test_no_alert_outside_a_shift_or_without_a_badge(watched: World) -> None:
    bob, bill = watched.users["bob"], watched.users["bill"]
    # Bill has no shift; Bob wanders after his shift ended.
    fixes(badge(bill), every(at(10), at(11), OUT))
    fixes(badge(bob), every(at(16), at(16, 55), IN) + every(at(17), at(18), OUT))

    assert alert_out_of_area(at(17, 40)).startswith("out of area: nobody")
    alert_out_of_area(at(10, 50))
    assert out_of_area_messages() == []


def test_an_overnight_excursion_is_alerted_after_midnight(watched: World) -> None:
    li = create_staff(
        username="li", roles=[Role.WORKER], unit=watched.unit1, areas=[watched.street1]
    )
    shift(li, Weekday.MONDAY, "22:00", "06:00")
    fixes(
        badge(li),
        every(at(22), at(23, 55), IN) + every(at(0, day=TUESDAY), at(1, day=TUESDAY), OUT),
    )

    assert "1 alerted" in alert_out_of_area(at(0, 30, day=TUESDAY))
    assert out_of_area_messages()[0].payload["data"]["user"] == "li"


def test_without_a_leader_the_supervisors_are_told(world: World, bob: User) -> None:
    Endpoint.objects.create(
        kind=Channel.WEBHOOK,
        address="https://carol.example/hook",
        secret="s",
        user=world.users["carol"],
    )
    fixes(badge(bob), every(at(8), at(9, 55), IN) + every(at(10), at(10, 40), OUT))

    alert_out_of_area(at(10, 30))
    [message] = out_of_area_messages()
    assert message.recipient == world.users["carol"]


def test_nobody_to_tell_is_logged_once(
    world: World, bob: User, caplog: pytest.LogCaptureFixture
) -> None:
    world.users["carol"].groups.clear()  # no supervisor, no leader, no channel
    fixes(badge(bob), every(at(8), at(9, 55), IN) + every(at(10), at(10, 40), OUT))

    with caplog.at_level(logging.WARNING, logger="yunbao.fleet.attendance"):
        assert "0 alerted" in alert_out_of_area(at(10, 30))
        alert_out_of_area(at(10, 31))
    assert caplog.text.count("nobody to tell") == 1
    assert out_of_area_messages() == []


def test_the_periodic_task_runs_the_check_at_the_real_now(world: World) -> None:
    from yunbao.fleet.tasks import attendance_alerts_task

    badge(world.users["bob"])  # a badge, but no shift at all
    result = attendance_alerts_task.enqueue()  # the immediate backend in tests: runs now
    assert result.return_value == "out of area: nobody with a badge is on shift"
