"""Coverage: staff and vehicles with a fresh position, devices going silent, the missing ones
listed with why; staff without devices, inactive devices, invalid and future fixes."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from yunbao.fleet.coverage import Reason, UnitCoverage, coverage
from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Position, Protocol
from yunbao.org.models import Shift, Weekday
from yunbao.testing import World

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2025, 3, 3)
NOON = dt.datetime.combine(MONDAY, dt.time(12), tzinfo=SHANGHAI)
MINUTE = dt.timedelta(minutes=1)
IN = (23.0005, 113.0005)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.YUNBAO_FLEET_COVERAGE_MINUTES = 10


def device(
    kind: str, name: str, *, staff: User | None = None, unit: Any = None, active: bool = True
) -> Device:
    return Device.objects.create(
        kind=kind,
        protocol=Protocol.JT808 if kind == DeviceKind.VEHICLE else Protocol.OSMAND,
        identifier=name,
        name=name,
        staff=staff,
        unit=unit,
        active=active,
    )


def heard(
    dev: Device,
    fixed_at: dt.datetime,
    *,
    received_at: dt.datetime | None = None,
    valid: bool = True,
) -> None:
    """The device's newest fix (as the gateway leaves it), and the same in the history."""
    values = {
        "fixed_at": fixed_at,
        "received_at": received_at or fixed_at,
        "lat": IN[0],
        "lon": IN[1],
        "valid": valid,
    }
    LatestPosition.objects.update_or_create(device=dev, defaults=values)
    Position.objects.bulk_create([Position(device=dev, **values)])


def on_duty_all_day(*users: User) -> None:
    for user in users:
        Shift.objects.create(user=user, weekday=Weekday.MONDAY, start=dt.time(0), end=dt.time(0))


def unit_one(world: World, now: dt.datetime = NOON, **kwargs: Any) -> UnitCoverage:
    [result] = coverage([world.unit1], now, **kwargs)
    return result


def test_everyone_reporting_is_full_coverage(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    on_duty_all_day(bob, bill)
    heard(device(DeviceKind.BADGE, "b-bob", staff=bob), NOON - 2 * MINUTE)
    heard(device(DeviceKind.BADGE, "b-bill", staff=bill), NOON - 10 * MINUTE)  # just in time
    heard(device(DeviceKind.VEHICLE, "粤A12345", unit=world.unit1), NOON - MINUTE)

    result = unit_one(world)

    assert (result.staff_covered, len(result.staff)) == (2, 2)
    assert (result.vehicles_covered, len(result.vehicles)) == (1, 1)
    assert result.staff_share == 1.0
    assert result.vehicle_share == 1.0
    assert result.missing_staff == ()
    assert result.missing_vehicles == ()


def test_devices_going_silent_drop_out_one_by_one(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    on_duty_all_day(bob, bill)
    heard(device(DeviceKind.BADGE, "b-bob", staff=bob), NOON)
    heard(device(DeviceKind.BADGE, "b-bill", staff=bill), NOON + 5 * MINUTE)
    truck = device(DeviceKind.VEHICLE, "truck", unit=world.unit1)
    heard(truck, NOON + 3 * MINUTE)

    shares = [
        (r.staff_share, r.vehicle_share)
        for r in (
            unit_one(world, NOON + 5 * MINUTE),
            unit_one(world, NOON + 10 * MINUTE),
            unit_one(world, NOON + 10 * MINUTE + dt.timedelta(seconds=1)),
            unit_one(world, NOON + 14 * MINUTE),
            unit_one(world, NOON + 16 * MINUTE),
        )
    ]
    assert shares == [(1.0, 1.0), (1.0, 1.0), (0.5, 1.0), (0.5, 0.0), (0.0, 0.0)]

    late = unit_one(world, NOON + 16 * MINUTE)
    missing = {e.name: (e.reason, e.last_fix) for e in late.missing_staff + late.missing_vehicles}
    assert missing == {
        "bob": (Reason.SILENT, NOON),
        "bill": (Reason.SILENT, NOON + 5 * MINUTE),
        "truck": (Reason.SILENT, NOON + 3 * MINUTE),
    }
    assert late.missing_staff[0].devices == ("b-bill",) or late.missing_staff[1].devices == (
        "b-bill",
    )


def test_staff_without_a_badge_are_missing_as_no_device(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    on_duty_all_day(bob, bill)
    heard(device(DeviceKind.BADGE, "b-bob", staff=bob), NOON)

    result = unit_one(world)
    assert result.staff_share == 0.5
    [missing] = result.missing_staff
    assert (missing.name, missing.reason, missing.last_fix) == ("bill", Reason.NO_DEVICE, None)
    with translation.override("en"):
        assert missing.reason_label == "No device"
    with translation.override("zh-hans"):
        assert missing.reason_label == translation.gettext("No device") != "No device"


def test_a_device_that_never_reported_is_missing(world: World) -> None:
    on_duty_all_day(world.users["bob"])
    device(DeviceKind.BADGE, "b-bob", staff=world.users["bob"])
    device(DeviceKind.VEHICLE, "new-truck", unit=world.unit1)

    result = unit_one(world)
    assert [(e.name, e.reason) for e in result.missing_staff] == [("bob", Reason.NEVER)]
    assert [(e.name, e.reason) for e in result.missing_vehicles] == [("new-truck", Reason.NEVER)]


def test_inactive_devices_are_left_out(world: World) -> None:
    bob = world.users["bob"]
    on_duty_all_day(bob)
    heard(device(DeviceKind.BADGE, "retired", staff=bob, active=False), NOON)
    heard(device(DeviceKind.VEHICLE, "scrapped", unit=world.unit1, active=False), NOON)

    result = unit_one(world)
    assert result.vehicles == ()
    assert result.vehicle_share is None
    # Bob's only badge is retired: he has no device, however fresh its fix.
    assert [(e.name, e.reason) for e in result.missing_staff] == [("bob", Reason.NO_DEVICE)]


def test_only_staff_on_duty_count_unless_all_are_asked_for(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    Shift.objects.create(user=bob, weekday=Weekday.MONDAY, start=dt.time(8), end=dt.time(17))
    heard(device(DeviceKind.BADGE, "b-bob", staff=bob), NOON)
    device(DeviceKind.BADGE, "b-bill", staff=bill)  # bill is off and his badge too

    on_duty = unit_one(world)
    assert [e.name for e in on_duty.staff] == ["bob"]
    assert on_duty.staff_share == 1.0

    everyone = unit_one(world, on_duty_only=False)
    assert sorted(e.name for e in everyone.staff) == ["bill", "bob"]
    assert everyone.staff_share == 0.5

    # At night nobody is on duty: no share rather than 0 %.
    night = unit_one(world, NOON + dt.timedelta(hours=10))
    assert night.staff == ()
    assert night.staff_share is None


def test_an_overnight_shift_counts_after_midnight(world: World) -> None:
    bob = world.users["bob"]
    Shift.objects.create(user=bob, weekday=Weekday.MONDAY, start=dt.time(22), end=dt.time(6))
    two_am = NOON + dt.timedelta(hours=14)
    heard(device(DeviceKind.BADGE, "b-bob", staff=bob), two_am - MINUTE)

    assert [e.name for e in unit_one(world, two_am).staff] == ["bob"]
    assert unit_one(world, two_am).staff_share == 1.0


def test_one_live_badge_of_two_covers_its_owner(world: World) -> None:
    bob = world.users["bob"]
    on_duty_all_day(bob)
    heard(device(DeviceKind.BADGE, "old", staff=bob), NOON - dt.timedelta(hours=3))
    heard(device(DeviceKind.BADGE, "new", staff=bob), NOON - MINUTE)

    [entry] = unit_one(world).staff
    assert entry.covered
    assert set(entry.devices) == {"old", "new"}


def test_a_recent_invalid_fix_is_no_fix_unless_a_valid_one_came_in_the_window(
    world: World,
) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    on_duty_all_day(bob, bill)
    bob_badge = device(DeviceKind.BADGE, "b-bob", staff=bob)
    heard(bob_badge, NOON - 5 * MINUTE)  # valid
    heard(bob_badge, NOON - MINUTE, valid=False)  # newest, no lock
    bill_badge = device(DeviceKind.BADGE, "b-bill", staff=bill)
    heard(bill_badge, NOON - 30 * MINUTE)
    heard(bill_badge, NOON - MINUTE, valid=False)

    result = unit_one(world)
    covered = {e.name: e.covered for e in result.staff}
    assert covered == {"bob": True, "bill": False}
    assert [(e.name, e.reason) for e in result.missing_staff] == [("bill", Reason.NO_FIX)]


def test_a_clock_running_ahead_does_not_keep_a_device_fresh(world: World) -> None:
    truck = device(DeviceKind.VEHICLE, "truck", unit=world.unit1)
    # Received at 11:00 but claiming a fix time tomorrow.
    heard(truck, NOON + dt.timedelta(days=1), received_at=NOON - dt.timedelta(hours=1))

    [missing] = unit_one(world).missing_vehicles
    assert missing.reason == Reason.SILENT
    assert missing.last_fix == NOON - dt.timedelta(hours=1)


def test_other_units_and_unassigned_devices_do_not_count(world: World) -> None:
    walt = world.users["walt"]
    on_duty_all_day(walt)
    heard(device(DeviceKind.BADGE, "b-walt", staff=walt), NOON)
    heard(device(DeviceKind.VEHICLE, "unit2-truck", unit=world.unit2), NOON - 20 * MINUTE)
    heard(device(DeviceKind.BADGE, "spare"), NOON)  # nobody's badge

    one, two = coverage([world.unit1, world.unit2], NOON)
    assert (one.staff, one.vehicles) == ((), ())
    assert [e.name for e in two.staff] == ["walt"]
    assert two.staff_share == 1.0
    assert two.vehicle_share == 0.0


def test_coverage_of_many_units_is_a_fixed_number_of_queries(
    world: World, django_assert_max_num_queries: Any
) -> None:
    for name in ("bob", "bill", "walt"):
        on_duty_all_day(world.users[name])
        heard(device(DeviceKind.BADGE, f"b-{name}", staff=world.users[name]), NOON)
    for i in range(5):
        heard(device(DeviceKind.VEHICLE, f"t{i}", unit=world.unit1), NOON, valid=i % 2 == 0)

    with django_assert_max_num_queries(6):
        results = coverage([world.unit1, world.unit2], NOON)
    assert [r.staff_share for r in results] == [1.0, 1.0]
    assert results[0].vehicle_share == pytest.approx(3 / 5)
