"""Devices and their latest positions, read-only.

Who sees which devices is `yunbao.fleet.devices.visible_devices`, the same answer as the
live map and the track pages: administrators all; managers, dispatchers and supervisors
the devices serving their areas (supervisors also their unit's, unit leaders their units');
field workers their own badges. Everyone else (residents, inspectors, organisers) gets 403,
and a device one may not see is a 404. A terminal's auth code is never shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from yunbao.api.auth import AUTH
from yunbao.api.errors import ApiError, responses
from yunbao.api.pagination import BadCursor, paginate
from yunbao.api.routes.orders import CURSOR, person
from yunbao.api.schemas import Code, Moment, PersonOut, Ref
from yunbao.fleet.devices import may_track, visible_devices
from yunbao.fleet.models import Device, LatestPosition

router = Router(tags=["devices"], auth=AUTH)


class PositionOut(Schema):
    fixed_at: datetime
    received_at: datetime
    lat: float
    lon: float
    speed: float | None = Field(description="km/h")
    course: int | None
    accuracy: float | None = Field(description="metres")
    valid: bool
    battery: float | None


class DeviceOut(Schema):
    id: int
    kind: str = Field(description="vehicle or badge")
    name: str
    protocol: str
    identifier: str
    vehicle_type: str
    plate: str
    unit: Ref | None
    staff: PersonOut | None
    active: bool
    position: PositionOut | None = Field(description="The newest fix, if any.")


class DevicePage(Schema):
    results: list[DeviceOut]
    next_cursor: str | None


class DeviceFilters(Schema):
    kind: Literal["vehicle", "badge"] | None = None
    unit: Code | None = Field(None, description="A unit's code.")
    active: bool | None = None
    seen_since: Moment | None = Field(None, description="Only devices with a fix since then.")
    cursor: str | None = Field(None, pattern=CURSOR)
    limit: int | None = Field(None, ge=1, le=1000)


def _position(fix: LatestPosition | None) -> PositionOut | None:
    if fix is None:
        return None
    return PositionOut(
        fixed_at=fix.fixed_at,
        received_at=fix.received_at,
        lat=fix.lat,
        lon=fix.lon,
        speed=fix.speed,
        course=fix.course,
        accuracy=fix.accuracy,
        valid=fix.valid,
        battery=fix.battery,
    )


def _latest(device: Device) -> LatestPosition | None:
    try:
        return device.latest
    except LatestPosition.DoesNotExist:
        return None


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        id=device.pk,
        kind=device.kind,
        name=device.name,
        protocol=device.protocol,
        identifier=device.identifier,
        vehicle_type=device.vehicle_type,
        plate=device.plate,
        unit=Ref(code=device.unit.code, name=str(device.unit)) if device.unit else None,
        staff=person(device.staff) if device.staff_id else None,
        active=device.active,
        position=_position(_latest(device)),
    )


def _devices(request: HttpRequest) -> QuerySet[Device]:
    if not may_track(request.user):
        raise ApiError(403, _("Your role has no access to devices."))
    return (
        visible_devices(request.user)
        .select_related("unit", "staff__profile", "latest")
        .order_by("id")
    )


@router.get(
    "/devices",
    response=responses(DevicePage, 401, 403, 422, 429),
    summary="Devices the caller may see, with their latest positions",
)
def list_devices(request: HttpRequest, filters: Query[DeviceFilters]) -> DevicePage:
    devices = _devices(request)
    if filters.kind:
        devices = devices.filter(kind=filters.kind)
    if filters.unit:
        devices = devices.filter(unit__code=filters.unit)
    if filters.active is not None:
        devices = devices.filter(active=filters.active)
    if filters.seen_since is not None:
        devices = devices.filter(latest__fixed_at__gte=filters.seen_since)
    try:
        rows, next_cursor = paginate(
            devices,
            order=("id",),
            cursor=filters.cursor,
            limit=filters.limit,
        )
    except BadCursor as exc:
        raise ApiError(422, str(exc), field="cursor") from exc
    return DevicePage(results=[device_out(d) for d in rows], next_cursor=next_cursor)


@router.get(
    "/devices/{device_id}",
    response=responses(DeviceOut, 401, 403, 404, 422, 429),
    summary="One device with its latest position",
)
def get_device(request: HttpRequest, device_id: int) -> DeviceOut:
    if not -(2**63) < device_id < 2**63:
        raise ApiError(404, _("No such device (or not one you may see)."))
    device = _devices(request).filter(pk=device_id).first()
    if device is None:
        raise ApiError(404, _("No such device (or not one you may see)."))
    return device_out(device)
