"""Devices and fixes for the tests of the live views, tracks and the admin.

Positions are written with `bulk_create`, as the gateway writes them in batches; the latest
position is set the way the gateway keeps it (the newest by fix time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Position, Protocol, VehicleType

_serial = [0]


def vehicle(
    unit: Any = None, *, plate: str = "", kind: str = VehicleType.SWEEPER, **kw: Any
) -> Device:
    _serial[0] += 1
    return Device.objects.create(
        kind=DeviceKind.VEHICLE,
        protocol=Protocol.JT808,
        identifier=kw.pop("identifier", f"1380000{_serial[0]:04d}"),
        vehicle_type=kind,
        plate=plate or f"粤A{_serial[0]:05d}",
        unit=unit,
        **kw,
    )


def badge(staff: Any = None, *, unit: Any = None, **kw: Any) -> Device:
    _serial[0] += 1
    if unit is None and staff is not None:
        unit = staff.profile.unit
    return Device.objects.create(
        kind=DeviceKind.BADGE,
        protocol=Protocol.OSMAND,
        identifier=kw.pop("identifier", f"badge-{_serial[0]}"),
        staff=staff,
        unit=unit,
        **kw,
    )


def fix(device: Device, at: dt.datetime, lat: float, lon: float, **kw: Any) -> Position:
    """One fix (not saved)."""
    return Position(
        device=device, fixed_at=at, received_at=kw.pop("received_at", at), lat=lat, lon=lon, **kw
    )


def store(fixes: Iterable[Position]) -> list[Position]:
    """Write fixes as the gateway does: the history in a batch, the latest moved forward."""
    rows = Position.objects.bulk_create(list(fixes))
    newest: dict[int, Position] = {}
    for row in rows:
        if row.device_id not in newest or row.fixed_at >= newest[row.device_id].fixed_at:
            newest[row.device_id] = row
    for device_id, row in newest.items():
        current = LatestPosition.objects.filter(device_id=device_id).first()
        if current is not None and current.fixed_at > row.fixed_at:
            continue
        LatestPosition.objects.update_or_create(
            device_id=device_id,
            defaults={
                name: getattr(row, name)
                for name in (
                    "fixed_at",
                    "received_at",
                    "lat",
                    "lon",
                    "speed",
                    "course",
                    "valid",
                    "battery",
                )
            },
        )
    return rows


def latest(device: Device, at: dt.datetime, lat: float, lon: float, **kw: Any) -> Position:
    """Store one fix, which becomes the device's latest."""
    return store([fix(device, at, lat, lon, **kw)])[0]
