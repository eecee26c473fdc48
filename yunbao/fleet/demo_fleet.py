"""The demo's devices and a few hours of plausible tracks, so the live map, the device list
and the track page show something right after `make run`.

- a badge (OsmAnd, identified by the username, as Traccar Client would send it) for every
  demo field worker;
- vehicles (JT/T 808, 粤A plates, terminal phone numbers 1380002xxxx) for every sanitation
  unit — a road sweeper, a garbage truck, a water truck and an e-bike — and a patrol car
  for the enforcement squad;
- tracks ending now for the sweeper, the garbage truck and the first worker's badge, along
  the grid lines of their town, at plausible speeds, with stops (lunch, refilling,
  collection points), GPS noise, one fix without a GPS lock and one stray fix (so the
  track page shows its cleaning at work); a single fresh fix for every other device, and
  an old one for the e-bike, so the live map shows a stale device greyed.

Idempotent and cheap: devices are created when missing; fixes are added only for a demo
device with nothing in the last `QUIET_MINUTES` (a first run, or a run on a later day,
when the old fixes have gone stale), and never before its newest fix. A few thousand rows
in all, written in one batch.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from yunbao.fleet.models import (
    Device,
    DeviceKind,
    LatestPosition,
    Position,
    Protocol,
    VehicleType,
)
from yunbao.fleet.partitions import ensure_partitions
from yunbao.geo.models import Area, Level
from yunbao.org.models import Role, Unit, UnitKind

User = get_user_model()

# A demo device that reported within this many minutes is left alone.
QUIET_MINUTES = 30
# How long ago the e-bikes last reported, to show a stale device.
STALE_MINUTES = 180
# (vehicle type, plate, terminal number suffix) of each sanitation unit's vehicles.
SANITATION_FLEET: tuple[tuple[str, str, str], ...] = (
    (VehicleType.SWEEPER, "粤A3H721", "01"),
    (VehicleType.GARBAGE_TRUCK, "粤A5K306", "02"),
    (VehicleType.WATER_TRUCK, "粤A7W518", "03"),
    (VehicleType.EBIKE, "粤A0E214", "04"),
)
SQUAD_FLEET: tuple[tuple[str, str, str], ...] = ((VehicleType.PATROL_CAR, "粤A9Z110", "05"),)


@dataclass(frozen=True)
class Drive:
    """How a tracked device moves: along east-west lanes of its town, back and forth."""

    hours: float
    kmh: float
    interval_s: int
    lane_every: int  # grid rows between lanes
    lanes: int
    # (after this many minutes of the day's work, stop this many minutes)
    stops: tuple[tuple[float, float], ...]


SWEEPER = Drive(6, 8, 30, 3, 8, ((90, 15), (180, 60), (300, 10)))
TRUCK = Drive(5, 25, 30, 10, 8, tuple((m, 6) for m in range(20, 300, 25)))
WALKER = Drive(4, 4, 30, 1, 6, ((60, 8), (120, 20), (200, 10)))


def load_fleet(
    units: dict[str, Unit],
    people: dict[str, Any],
    *,
    seed: int = 11,
    progress: Callable[[str], None] = print,
) -> int:
    """Create what is missing of the demo fleet; returns the number of fixes written."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    now = timezone.now()
    devices, tracked = _devices(units, people)
    newest = dict(
        LatestPosition.objects.filter(device__in=devices).values_list("device_id", "fixed_at")
    )
    rows: list[Position] = []
    for device in devices:
        last = newest.get(device.pk)
        # The e-bike's battery died three hours ago: the live map greys it.
        silent = STALE_MINUTES if device.vehicle_type == VehicleType.EBIKE else 0
        if last is not None and last >= now - dt.timedelta(minutes=QUIET_MINUTES + silent):
            continue
        south, west, north, east, rows_of_grid = _box(device)
        if device.pk in tracked:
            drive = tracked[device.pk]
            fixes = _drive(device, drive, now, (south, west, north, east, rows_of_grid), rng)
            fixes = [f for f in fixes if last is None or f.fixed_at > last]
        else:
            at = now - dt.timedelta(minutes=silent or rng.uniform(0.5, 6))
            fixes = [
                Position(
                    device=device,
                    fixed_at=at,
                    received_at=at,
                    lat=rng.uniform(south, north),
                    lon=rng.uniform(west, east),
                    speed=0.0 if device.kind == DeviceKind.BADGE else rng.uniform(0, 20),
                    battery=rng.uniform(30, 95),
                )
            ]
        rows.extend(fixes)
    if not rows:
        return 0
    first_day = timezone.localtime(min(r.fixed_at for r in rows)).date()
    ensure_partitions(first_day, days=(timezone.localdate() - first_day).days + 2)
    with transaction.atomic():
        Position.objects.bulk_create(rows, batch_size=2000)
        _move_latest(rows)
    progress(f"fleet: {len(devices)} devices, {len(rows)} positions")
    return len(rows)


def _devices(units: dict[str, Unit], people: dict[str, Any]) -> tuple[list[Device], dict]:
    """The demo's devices (created when missing) and which of them get a track."""
    devices: list[Device] = []
    tracked: dict[int, Drive] = {}
    workers = set(
        User._default_manager.filter(
            pk__in=[p.pk for p in people.values()], groups__name=Role.WORKER
        ).values_list("pk", flat=True)
    )
    first_worker = True
    for user in sorted(people.values(), key=lambda u: u.username):
        if user.pk not in workers:
            continue
        profile = getattr(user, "profile", None)
        device, _ = Device.objects.get_or_create(
            protocol=Protocol.OSMAND,
            identifier=user.username,
            defaults={
                "kind": DeviceKind.BADGE,
                "name": getattr(profile, "display_name", "") or user.username,
                "staff": user,
                "unit": getattr(profile, "unit", None),
            },
        )
        devices.append(device)
        if first_worker:
            tracked[device.pk] = WALKER
            first_worker = False
    number = 0
    for unit in sorted(units.values(), key=lambda u: u.code):
        if unit.kind == UnitKind.SANITATION:
            fleet = SANITATION_FLEET
        elif unit.kind == UnitKind.ENFORCEMENT:
            fleet = SQUAD_FLEET
        else:
            continue
        number += 1
        for vehicle_type, plate, suffix in fleet:
            device, _ = Device.objects.get_or_create(
                protocol=Protocol.JT808,
                identifier=f"13800{number:02d}20{suffix}",
                defaults={
                    "kind": DeviceKind.VEHICLE,
                    "vehicle_type": vehicle_type,
                    # Plates are unique per unit: the first unit keeps the listed ones.
                    "plate": plate if number == 1 else f"{plate[:-1]}{number}",
                    "unit": unit,
                    "details": {"maker": "YBDEM", "model": "T808-4G"},
                },
            )
            devices.append(device)
            if vehicle_type == VehicleType.SWEEPER:
                tracked[device.pk] = SWEEPER
            elif vehicle_type == VehicleType.GARBAGE_TRUCK:
                tracked[device.pk] = TRUCK
    return devices, tracked


def _box(device: Device) -> tuple[float, float, float, float, int]:
    """(south, west, north, east, grid rows) of the town the device works in: its staff
    member's, else its unit's (a district-wide one: one of the district's towns). A unit
    serving several towns keeps its garbage truck in the biggest, the rest in the smallest."""
    areas: list[Area] = []
    if device.staff_id is not None:
        areas = list(Area.objects.filter(staff__user_id=device.staff_id).order_by("code"))
    if not areas and device.unit_id is not None:
        areas = list(Area.objects.filter(units=device.unit_id).order_by("code"))
    towns = [a for a in areas if a.level == Level.STREET]
    if not towns:
        within = Area.objects.filter(level=Level.STREET).order_by("code")
        if areas:
            within = within.filter(path__startswith=areas[0].path)
        towns = list(within)
        towns = towns[device.pk % len(towns) :][:1] if towns else []
    if not towns:
        return 23.2, 113.2, 23.21, 113.21, 10

    def size(area: Area) -> float:
        return (area.max_lat - area.min_lat) * (area.max_lon - area.min_lon)

    truck = device.vehicle_type == VehicleType.GARBAGE_TRUCK
    area = max(towns, key=size) if truck else min(towns, key=size)
    rows = max(1, round((area.max_lat - area.min_lat) / 0.0009))  # grids of about 100 m
    return area.min_lat, area.min_lon, area.max_lat, area.max_lon, rows


def _drive(
    device: Device,
    drive: Drive,
    end: dt.datetime,
    box: tuple[float, float, float, float, int],
    rng: random.Random,
) -> list[Position]:
    """Fixes every `interval_s` for `hours` up to `end`, along the lanes, back and forth."""
    south, west, north, east, rows = box
    step = (north - south) / rows
    lane_lats = [south + step * min(rows, 1 + i * drive.lane_every) for i in range(drive.lanes)]
    # The route: east along one lane, up to the next, west along it, and so on.
    route: list[tuple[float, float]] = []
    for i, lat in enumerate(lane_lats):
        ends = [(lat, west + (east - west) * 0.02), (lat, east - (east - west) * 0.02)]
        route.extend(ends if i % 2 == 0 else ends[::-1])
    metres = [0.0]
    for a, b in itertools.pairwise(route):
        metres.append(metres[-1] + _metres(a, b))
    length = metres[-1] or 1.0
    fixes: list[Position] = []
    start = end - dt.timedelta(hours=drive.hours)
    stops = [(m * 60, d * 60) for m, d in drive.stops]
    travelled = 0.0
    previous: tuple[float, float] | None = None
    count = int(drive.hours * 3600 / drive.interval_s)
    for n in range(count + 1):
        elapsed = n * drive.interval_s
        stopped = any(at <= elapsed < at + length_s for at, length_s in stops)
        if n and not stopped:
            travelled += drive.kmh / 3.6 * drive.interval_s * rng.uniform(0.8, 1.15)
        lat, lon = _along(route, metres, travelled % (2 * length), length)
        noisy = (lat + rng.gauss(0, 3) / 111_000, lon + rng.gauss(0, 3) / 102_000)
        at = start + dt.timedelta(seconds=elapsed)
        speed = 0.0 if stopped else drive.kmh * rng.uniform(0.8, 1.15)
        course = _course(previous, noisy) if previous and not stopped else 0
        fixes.append(
            Position(
                device=device,
                fixed_at=at,
                received_at=at + dt.timedelta(seconds=rng.uniform(0.2, 3)),
                lat=noisy[0],
                lon=noisy[1],
                speed=round(speed, 1),
                course=course,
                accuracy=round(rng.uniform(3, 12), 1),
                battery=round(100 - 40 * elapsed / (drive.hours * 3600), 1),
                mileage=round(travelled / 1000, 2) if device.kind == DeviceKind.VEHICLE else None,
                status=0b11 if device.kind == DeviceKind.VEHICLE else 0,  # ACC on, positioned
            )
        )
        previous = noisy
    if len(fixes) > 40:
        # Real life: a fix without a GPS lock under a bridge, and one stray fix 2 km off.
        fixes[len(fixes) // 3].valid = False
        stray = fixes[2 * len(fixes) // 3]
        stray.lat += 0.018
    return fixes


def _along(
    route: list[tuple[float, float]], metres: list[float], distance: float, length: float
) -> tuple[float, float]:
    """The point `distance` metres along the route, coming back once past its end."""
    if distance > length:
        distance = 2 * length - distance
    for i in range(1, len(route)):
        if metres[i] >= distance:
            share = (distance - metres[i - 1]) / ((metres[i] - metres[i - 1]) or 1.0)
            a, b = route[i - 1], route[i]
            return a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share
    return route[-1]


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    from yunbao.geo.coords import haversine_m

    return haversine_m(a[0], a[1], b[0], b[1])


def _course(a: tuple[float, float], b: tuple[float, float]) -> int:
    """Degrees clockwise from north, from `a` to `b` (flat-earth: metres apart)."""
    dy = b[0] - a[0]
    dx = (b[1] - a[1]) * math.cos(math.radians(a[0]))
    return round(math.degrees(math.atan2(dx, dy))) % 360


def _move_latest(rows: list[Position]) -> None:
    """Each device's newest fix becomes its latest position (never moving it back)."""
    newest: dict[int, Position] = {}
    for row in rows:
        if row.device_id not in newest or row.fixed_at > newest[row.device_id].fixed_at:
            newest[row.device_id] = row
    current = dict(
        LatestPosition.objects.filter(device_id__in=newest).values_list("device_id", "fixed_at")
    )
    fields = [f.name for f in LatestPosition._meta.concrete_fields if f.name != "device"]
    for device_id, row in newest.items():
        if device_id in current and current[device_id] >= row.fixed_at:
            continue
        LatestPosition.objects.update_or_create(
            device_id=device_id, defaults={name: getattr(row, name) for name in fields}
        )
