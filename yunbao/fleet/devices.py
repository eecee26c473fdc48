"""Devices as people see them: who may see which, their latest fixes, and where a person is.

Who may see which devices
-------------------------
`visible_devices(user)` is the one answer, used by the live map, the device list, the track
page and the dispatcher console (the admin has its own, unit-based scope):

- administrators: every device;
- operations managers, dispatchers and supervisors (`AREA_ROLES`): the devices of units
  serving in their areas (a unit whose service area lies inside one of theirs, or holds
  one of theirs, as the console's worker map counts it) and the badges of staff working
  there (by the staff member's own areas, or their unit's). Someone responsible for a
  whole district (an area without a parent) also sees the devices nobody has claimed yet
  — no unit, no staff member —, which is what the gateway registers on its own in the
  demo, so a terminal pointed at the demo shows on the district's map at once;
- supervisors also every device of their own unit, and a unit's leader (`Unit.leader`, any
  role) every device of the units they lead;
- field workers their own badges (the track page only);
- everyone else nothing: residents, inspectors and organisers get 403 from the pages.

The live map and the device list are for `may_watch` people (the area roles, unit leaders,
administrators); the track page also for workers, of their own badges. A device the person
may not see is a 404, so an id reveals nothing.

Where a person is
-----------------
`latest_for_users` is the one function dispatch asks through (`dispatch.positions`): the
newest valid fix among a person's active badges, in one query, whatever the number of
people. Stale fixes are the caller's business (`since`), as the console shows old ones
greyed while the worker ranking ignores them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.urls import reverse

from yunbao.fleet.models import Device, DeviceKind, LatestPosition
from yunbao.org.models import Role, StaffProfile, Unit
from yunbao.org.roles import areas_of, roles_of, unit_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from yunbao.geo.models import Area

# Roles that see the devices serving their areas.
AREA_ROLES = frozenset({Role.MANAGER, Role.DISPATCHER, Role.SUPERVISOR})


def position_max_age() -> dt.timedelta:
    """How long a fix counts as where a device is (FLEET_POSITION_MAX_AGE_MINUTES)."""
    return dt.timedelta(minutes=settings.YUNBAO_FLEET_POSITION_MAX_AGE_MINUTES)


# --- Who may see what ------------------------------------------------------------------


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(getattr(user, "is_superuser", False)) or Role.ADMIN in roles_of(user)


def led_unit_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    """The active units `user` leads (read once per request, cached on the user)."""
    if not user.is_authenticated:
        return []
    cache = user.__dict__.setdefault("_yunbao_fleet", {})
    if "led" not in cache:
        cache["led"] = list(
            Unit.objects.filter(leader_id=user.pk, active=True).values_list("pk", flat=True)
        )
    ids: list[int] = cache["led"]
    return ids


def may_watch(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether `user` may use the live map and the device list."""
    if not user.is_authenticated or not user.is_active:
        return False
    return is_admin(user) or bool(roles_of(user) & AREA_ROLES) or bool(led_unit_ids(user))


def may_track(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether `user` may open track pages at all (which ones: `visible_devices`)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return may_watch(user) or Role.WORKER in roles_of(user)


def _prefixes(path: str) -> list[str]:
    """ "/1/3/7/" → ["/1/", "/1/3/", "/1/3/7/"]: the paths of an area and its ancestors."""
    parts = [p for p in path.strip("/").split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def _serving(field: str, areas: Iterable[Area]) -> Q:
    """`field` (a path to Area) lies inside one of `areas` or holds one of them."""
    condition = Q(pk__in=[])
    for area in areas:
        condition |= Q(**{f"{field}__path__startswith": area.path})
        condition |= Q(**{f"{field}__path__in": _prefixes(area.path)})
    return condition


def visibility_filter(user: AbstractBaseUser | AnonymousUser) -> Q | None:
    """A Q over `Device` for what `user` may see (see the module's docstring), or None when
    they may see nothing."""
    if not user.is_authenticated or not user.is_active:
        return None
    if is_admin(user):
        return Q()
    roles = roles_of(user)
    condition = Q(pk__in=[])
    found = False
    if Role.WORKER in roles:
        condition |= Q(kind=DeviceKind.BADGE, staff_id=user.pk)
        found = True
    if roles & AREA_ROLES:
        areas = areas_of(user)
        if areas:
            # Subqueries rather than joins: a unit with several areas must not repeat rows.
            units = Unit.objects.filter(_serving("areas", areas)).values("pk")
            people = StaffProfile.objects.filter(_serving("areas", areas)).values("user_id")
            condition |= Q(unit__in=units) | Q(staff__in=people)
            condition |= Q(staff__profile__unit__in=units)
            if any(area.parent_id is None for area in areas):
                condition |= Q(unit__isnull=True, staff__isnull=True)
        found = True
    if Role.SUPERVISOR in roles:
        unit = unit_of(user)
        if unit is not None:
            condition |= Q(unit_id=unit.pk) | Q(staff__profile__unit_id=unit.pk)
    led = led_unit_ids(user)
    if led:
        condition |= Q(unit_id__in=led) | Q(staff__profile__unit_id__in=led)
        found = True
    return condition if found else None


def visible_devices(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Device]:
    """The devices `user` may see (none for an anonymous visitor or a resident)."""
    condition = visibility_filter(user)
    if condition is None:
        return Device.objects.none()
    return Device.objects.filter(condition)


# --- Latest fixes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BadgeFix:
    """A person's newest valid badge fix."""

    device_id: int
    lat: float
    lon: float
    fixed_at: dt.datetime


def latest_for_users(
    users: Iterable[int | AbstractBaseUser], *, since: dt.datetime | None = None
) -> dict[int, BadgeFix | None]:
    """For each of these people who has an active badge: the newest valid fix among their
    active badges (fixed at `since` or later when given), else None. People without an
    active badge are left out, so the keys also say who carries one.

    One query (the person's badges, each with its latest fix if it counts), however many
    people. Every automatic dispatch decision asks this for everyone on duty, so it is
    plain SQL read as tuples: Django's query compiling and per-row converters cost more
    than the query. Times come back as UTC text, which sorts as time does; only each
    person's newest is parsed.
    """
    ids = sorted({u if isinstance(u, int) else u.pk for u in users})
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(*_latest_query(ids, since))
        rows = cursor.fetchall()
    newest: dict[int, tuple[Any, ...] | None] = {}
    for row in rows:
        staff_id, fixed_at = row[0], row[4]
        best = newest.get(staff_id)
        if fixed_at is not None and (best is None or fixed_at > best[4]):
            newest[staff_id] = row
        elif staff_id not in newest:
            newest[staff_id] = None
    return {
        staff_id: None if row is None else BadgeFix(row[1], row[2], row[3], _aware(row[4]))
        for staff_id, row in newest.items()
    }


def _latest_query(ids: list[int], since: dt.datetime | None) -> tuple[str, list[Any]]:
    ops = connection.ops
    device = ops.quote_name(Device._meta.db_table)
    latest = ops.quote_name(LatestPosition._meta.db_table)
    # The time as text, parsed only for each person's newest fix: on SQLite the unary +
    # hides the column's declared type (no converter runs), on PostgreSQL a cast spares
    # Django's time-zone-aware loader (the session is UTC, so text order is time order).
    time = "+l.fixed_at" if connection.vendor == "sqlite" else "l.fixed_at::text"
    fresh = " AND l.fixed_at >= %s" if since is not None else ""
    params: list[Any] = []
    if since is not None:
        params.append(ops.adapt_datetimefield_value(since))
    params.append(DeviceKind.BADGE.value)
    if connection.vendor == "postgresql":
        # One array parameter: psycopg adapts each of a hundred parameters in Python.
        people = "= ANY(%s)"
        params.append(ids)
    else:
        people = "IN (" + ", ".join(["%s"] * len(ids)) + ")"
        params.extend(ids)
    # Only quoted table names and placeholders are formatted in; values are parameters.
    sql = (
        f"SELECT d.staff_id, d.id, l.lat, l.lon, {time} FROM {device} d "  # noqa: S608
        f"LEFT JOIN {latest} l ON l.device_id = d.id AND l.valid{fresh} "
        f"WHERE d.active AND d.kind = %s AND d.staff_id {people}"
    )
    return sql, params


def _aware(value: Any) -> dt.datetime:
    """A fix time as the query returns it (UTC text, or a datetime) → aware."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def staff_name(user: Any) -> str:
    """A person's display name, else their username."""
    if user is None:
        return ""
    profile = getattr(user, "profile", None)
    return (getattr(profile, "display_name", "") or "") or user.get_username()


def device_label(device: Device) -> str:
    """What a person calls the device: a vehicle's plate, a badge's wearer, else its name."""
    if device.kind == DeviceKind.VEHICLE:
        return device.plate or device.name or device.identifier
    if device.staff_id is not None and device.staff is not None:
        return staff_name(device.staff)
    return device.name or device.identifier


def live_rows(devices: QuerySet[Device]) -> list[dict[str, Any]]:
    """The latest fix of each of these devices that has one, as the live map and the
    dispatcher console draw it: one query, fixed moments only (the age and whether it is
    stale are worked out by the page's script, so the passing of time alone changes
    nothing here)."""
    rows = []
    latest = LatestPosition.objects.filter(device__in=devices).select_related(
        "device__unit", "device__staff__profile"
    )
    for fix in latest.order_by("device__kind", "device__name", "device_id"):
        device = fix.device
        rows.append(
            {
                "id": device.pk,
                "kind": device.kind,
                "label": device_label(device),
                "type": device.get_vehicle_type_display() if device.vehicle_type else "",
                "plate": device.plate,
                "unit": str(device.unit) if device.unit else "",
                "staff": staff_name(device.staff) if device.staff_id else "",
                "active": device.active,
                "lat": round(fix.lat, 6),
                "lon": round(fix.lon, 6),
                "speed": round(fix.speed, 1) if fix.speed is not None else None,
                "course": fix.course,
                "valid": fix.valid,
                "seen": fix.fixed_at.isoformat(),
                "track": reverse("fleet:track", args=[device.pk]),
            }
        )
    return rows
