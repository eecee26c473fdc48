"""Batched position writes (binary COPY / executemany), the latest position that never moves
back, and the partitions and retention of the position history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from yunbao.fleet import partitions, store
from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Position, Protocol
from yunbao.fleet.store import Fix
from yunbao.lib.bulk import sqlite_time

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 4, 0, 0, tzinfo=UTC)


def device(identifier: str = "13800000001") -> Device:
    return Device.objects.create(
        kind=DeviceKind.VEHICLE, protocol=Protocol.JT808, identifier=identifier
    )


def fix(device_id: int, at: dt.datetime, lat: float = 23.2, lon: float = 113.3, **kw: Any) -> Fix:
    return Fix(device_id, at, at + dt.timedelta(seconds=1), lat, lon, **kw)


@pytest.mark.django_db
def test_a_batch_is_stored_with_every_field() -> None:
    truck = device()
    full = Fix(
        truck.pk,
        T0,
        T0 + dt.timedelta(seconds=2),
        23.123456,
        -113.654321,
        speed=36.5,
        course=271,
        altitude=12.0,
        accuracy=4.5,
        valid=False,
        alarm=0b10,
        status=0xFFFF_FFFF,  # every bit of the DWORD: needs the bigint column
        battery=88.0,
        mileage=12345.6,
        attributes={"sat": 12, "x25": "00000001", "名": "值"},
    )
    bare = fix(truck.pk, T0 + dt.timedelta(seconds=5))

    store.write_fixes([full, bare])

    rows = list(Position.objects.filter(device=truck).order_by("fixed_at"))
    assert len(rows) == 2
    got = rows[0]
    assert got.fixed_at == T0
    assert got.received_at == T0 + dt.timedelta(seconds=2)
    assert (got.lat, got.lon) == (23.123456, -113.654321)
    assert (got.speed, got.course, got.altitude, got.accuracy) == (36.5, 271, 12.0, 4.5)
    assert got.valid is False
    assert (got.alarm, got.status) == (2, 0xFFFF_FFFF)
    assert (got.battery, got.mileage) == (88.0, 12345.6)
    assert got.attributes == {"sat": 12, "x25": "00000001", "名": "值"}
    other = rows[1]
    assert other.speed is None
    assert other.course is None
    assert other.attributes is None
    assert other.valid is True
    latest = LatestPosition.objects.get(device=truck)
    assert latest.fixed_at == T0 + dt.timedelta(seconds=5)


@pytest.mark.django_db
def test_an_empty_batch_does_nothing() -> None:
    store.write_fixes([])
    assert Position.objects.count() == 0


@pytest.mark.django_db
def test_latest_position_never_moves_back_for_late_backfill() -> None:
    truck, badge = device("1"), device("2")
    store.write_fixes([fix(truck.pk, T0, lat=23.0), fix(badge.pk, T0, lat=24.0)])

    # Backfill of an hour ago (blind-area data) arrives after the live fix.
    older = T0 - dt.timedelta(hours=1)
    store.write_fixes([fix(truck.pk, older, lat=22.0), fix(badge.pk, T0 + dt.timedelta(1), lat=25)])

    latest = {row.device_id: row for row in LatestPosition.objects.all()}
    assert latest[truck.pk].fixed_at == T0
    assert latest[truck.pk].lat == 23.0
    assert latest[badge.pk].fixed_at == T0 + dt.timedelta(1)
    assert latest[badge.pk].lat == 25.0
    # The history has everything, the backfill included.
    assert Position.objects.filter(device=truck).count() == 2


@pytest.mark.django_db
def test_within_one_batch_the_newest_fix_wins_whatever_the_order() -> None:
    truck = device()
    fixes = [fix(truck.pk, T0 + dt.timedelta(seconds=s), lat=23 + s / 100) for s in (3, 9, 1, 5)]

    store.write_fixes(fixes)

    latest = LatestPosition.objects.get(device=truck)
    assert latest.fixed_at == T0 + dt.timedelta(seconds=9)
    assert latest.lat == pytest.approx(23.09)
    assert store.newest_per_device(fixes) == [fixes[1]]


@pytest.mark.django_db
def test_a_later_batch_moves_the_latest_position_forward() -> None:
    truck = device()
    store.write_fixes([fix(truck.pk, T0, lat=23.0)])
    store.write_fixes([fix(truck.pk, T0 + dt.timedelta(minutes=1), lat=23.5, speed=20.0)])

    latest = LatestPosition.objects.get(device=truck)
    assert latest.lat == 23.5
    assert latest.speed == 20.0
    assert LatestPosition.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_stores_nothing() -> None:
    truck = device()
    good = fix(truck.pk, T0)
    # A device that does not exist: its latest position violates the foreign key.
    orphan = fix(truck.pk + 1000, T0)

    with pytest.raises(Exception):  # noqa: B017, PT011 (IntegrityError on both databases)
        store.write_fixes([good, orphan])

    assert Position.objects.count() == 0
    assert LatestPosition.objects.count() == 0


@pytest.mark.django_db
def test_sqlite_times_sort_as_times() -> None:
    # SQLite compares the stored text: with and without microseconds must still sort.
    whole = sqlite_time(T0)
    fraction = sqlite_time(T0 + dt.timedelta(microseconds=500))
    next_second = sqlite_time(T0 + dt.timedelta(seconds=1))
    assert whole < fraction < next_second
    local = T0.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert sqlite_time(local) == whole


@pytest.mark.django_db(transaction=True)
@override_settings(YUNBAO_FLEET_RETENTION_DAYS=30)
def test_maintain_drops_the_days_past_retention() -> None:
    truck = device()
    today = timezone.localdate()
    old = dt.datetime.combine(
        today - dt.timedelta(days=40), dt.time(12), timezone.get_current_timezone()
    )
    recent = dt.datetime.combine(
        today - dt.timedelta(days=3), dt.time(12), timezone.get_current_timezone()
    )
    if connection.vendor == "postgresql":
        # Old days had partitions of their own, as the nightly job made them then.
        partitions.ensure_partitions(old.date(), days=1)
        partitions.ensure_partitions(recent.date(), days=1)
    store.write_fixes([fix(truck.pk, old), fix(truck.pk, recent)])

    summary = store.maintain()

    assert "retention 30 days" in summary
    assert list(Position.objects.values_list("fixed_at", flat=True)) == [recent]
    # The latest position is not history: it stays.
    assert LatestPosition.objects.filter(device=truck).exists()
    if connection.vendor == "postgresql":
        days = partitions.partition_days()
        assert old.date() not in days
        assert recent.date() in days
        # The coming days (yesterday to two days ahead) have their partitions.
        for offset in (-1, 0, 1, 2):
            assert today + dt.timedelta(days=offset) in days


@pytest.mark.django_db(transaction=True)
@override_settings(YUNBAO_FLEET_RETENTION_DAYS=0)
def test_retention_zero_keeps_everything() -> None:
    truck = device()
    ancient = T0 - dt.timedelta(days=3000)
    store.write_fixes([fix(truck.pk, ancient)])

    store.maintain()

    assert Position.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_postgresql_rows_land_in_their_day_partition() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("partitions exist on PostgreSQL only")
    truck = device()
    today = timezone.localdate()
    partitions.ensure_partitions(today, days=1)
    noon = dt.datetime.combine(today, dt.time(12), timezone.get_current_timezone())
    far = noon + dt.timedelta(days=400)  # a terminal with a wrong clock: the default one

    store.write_fixes([fix(truck.pk, noon), fix(truck.pk, far)])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM fleet_position GROUP BY 1 ORDER BY 1"
        )
        placed = dict(cursor.fetchall())
    assert placed == {f"fleet_position_p{today:%Y%m%d}": 1, "fleet_position_default": 1}
