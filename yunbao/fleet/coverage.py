"""Coverage (覆盖率): the share of a unit's staff and vehicles whose position is known now.

The pilot's "100% coverage" figure: of the people who should be reporting and of the unit's
vehicles, how many have a fresh position, and who or what is missing.

- **Staff** are the unit's active field workers plus anyone else of the unit holding an
  active badge. By default only those on duty now by the roster (`org.duty`, overnight
  shifts included) count: a badge switched off after work is no gap. `on_duty_only=False`
  counts everyone. A person is covered when any of their active badges is; one without an
  active badge is missing as "no device".
- **Vehicles** are the unit's active vehicle terminals (`Device.unit`), all of them: a
  vehicle has no roster, and terminals keep reporting while parked.
- A device is **covered** when its newest *valid* fix is at most `FLEET_COVERAGE_MINUTES`
  old at `now`. The fix's age is taken from `min(fixed_at, received_at)`: the fix time,
  because a terminal uploading an hour of blind-area backlog is no fresher for it arriving
  now, but never later than when the fix reached us, so a terminal whose clock runs ahead
  does not look fresh forever. `LatestPosition` answers for most devices in one query; when
  a device's newest fix is recent but invalid (no satellite lock), the history is asked
  whether a valid one came within the window (one more query for all such devices).
- Inactive devices are left out entirely (retired, lost or not yet issued).

Missing devices say why: never reported, silent since their last fix, or reporting without a
valid fix. Queries: a fixed handful for any number of units.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from yunbao.fleet.attendance import duty_spans
from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Position
from yunbao.org.models import Role, Unit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = ["Entry", "Reason", "UnitCoverage", "coverage", "window"]

_DAY = dt.timedelta(days=1)


class Reason(models.TextChoices):
    """Why someone or something is not covered."""

    NO_DEVICE = "no_device", _("No device")
    NEVER = "never", _("Never reported")
    SILENT = "silent", _("Silent")
    NO_FIX = "no_fix", _("No valid fix")


# When a person has several badges, the most hopeful reason is shown (reporting but without a
# lock beats silent beats never reported).
_HOPE = {Reason.NO_FIX: 0, Reason.SILENT: 1, Reason.NEVER: 2, Reason.NO_DEVICE: 3}


def window() -> dt.timedelta:
    return dt.timedelta(minutes=settings.YUNBAO_FLEET_COVERAGE_MINUTES)


@dataclass(frozen=True)
class Entry:
    """One person or vehicle: covered or not, and if not, why."""

    name: str
    covered: bool
    reason: str = ""
    # The newest fix heard (valid or not), as its age is counted; None if never.
    last_fix: dt.datetime | None = None
    devices: tuple[str, ...] = ()
    user_id: int | None = None
    device_id: int | None = None

    @property
    def reason_label(self) -> str:
        return str(Reason(self.reason).label) if self.reason else ""


@dataclass(frozen=True)
class UnitCoverage:
    unit: Unit
    at: dt.datetime
    on_duty_only: bool
    staff: tuple[Entry, ...]
    vehicles: tuple[Entry, ...]

    @property
    def staff_covered(self) -> int:
        return sum(1 for e in self.staff if e.covered)

    @property
    def vehicles_covered(self) -> int:
        return sum(1 for e in self.vehicles if e.covered)

    @property
    def staff_share(self) -> float | None:
        """Covered / counted staff; None when nobody counts (e.g. nobody on duty)."""
        return self.staff_covered / len(self.staff) if self.staff else None

    @property
    def vehicle_share(self) -> float | None:
        return self.vehicles_covered / len(self.vehicles) if self.vehicles else None

    @property
    def missing_staff(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.staff if not e.covered)

    @property
    def missing_vehicles(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.vehicles if not e.covered)

    def only(self, user_ids: Iterable[int]) -> UnitCoverage:
        """The same figures restricted to these people (a viewer who sees part of the unit)."""
        keep = set(user_ids)
        return replace(self, staff=tuple(e for e in self.staff if e.user_id in keep))


def _heard(latest: LatestPosition) -> dt.datetime:
    """When a fix counts as taken: its fix time, but never after it was received."""
    return min(latest.fixed_at, latest.received_at)


def _device_states(
    devices: Sequence[Device], now: dt.datetime, since: dt.datetime
) -> dict[int, Entry]:
    """Coverage of each device (its name, not its holder's)."""
    latest = {
        p.device_id: p for p in LatestPosition.objects.filter(device_id__in=[d.pk for d in devices])
    }
    # Recent but invalid newest fixes: was there a valid one within the window all the same?
    unsure = [pk for pk, p in latest.items() if not p.valid and _heard(p) >= since]
    rescued = set(
        Position.objects.filter(
            device_id__in=unsure, valid=True, fixed_at__gte=since, received_at__gte=since
        )
        .values_list("device_id", flat=True)
        .distinct()
        if unsure
        else ()
    )
    states = {}
    for device in devices:
        position = latest.get(device.pk)
        name = str(device)
        if position is None:
            states[device.pk] = Entry(name, False, Reason.NEVER, device_id=device.pk)
            continue
        heard = _heard(position)
        if heard >= since and (position.valid or device.pk in rescued):
            states[device.pk] = Entry(name, True, last_fix=heard, device_id=device.pk)
        elif heard >= since:
            states[device.pk] = Entry(name, False, Reason.NO_FIX, heard, device_id=device.pk)
        else:
            states[device.pk] = Entry(name, False, Reason.SILENT, heard, device_id=device.pk)
    return states


def _staff(units: Sequence[Unit]) -> list[User]:
    user_model = get_user_model()
    badged = Device.objects.filter(kind=DeviceKind.BADGE, active=True).values("staff_id")
    return list(
        user_model._default_manager.filter(is_active=True, profile__unit__in=list(units))
        .filter(Q(groups__name=Role.WORKER) | Q(pk__in=badged))
        .distinct()
        .select_related("profile")
        .order_by("profile__display_name", "username")
    )


def coverage(
    units: Iterable[Unit],
    now: dt.datetime | None = None,
    *,
    on_duty_only: bool = True,
) -> list[UnitCoverage]:
    """Coverage of each of `units` at `now` (default: now), in the order given."""
    units = list(units)
    now = now or timezone.now()
    since = now - window()
    people = _staff(units)
    if on_duty_only:
        today = timezone.localtime(now, timezone.get_default_timezone()).date()
        spans = duty_spans((u.pk for u in people), [today - _DAY, today])
        people = [u for u in people if any(now in span for span in spans[u.pk])]
    unit_ids = [u.pk for u in units]
    devices = list(
        Device.objects.filter(active=True)
        .filter(
            Q(kind=DeviceKind.VEHICLE, unit_id__in=unit_ids)
            | Q(kind=DeviceKind.BADGE, staff_id__in=[u.pk for u in people])
        )
        .order_by("name", "plate", "identifier")
    )
    states = _device_states(devices, now, since)
    badges: dict[int, list[Device]] = defaultdict(list)
    vehicles: dict[int, list[Entry]] = defaultdict(list)
    for device in devices:
        if device.kind == DeviceKind.BADGE and device.staff_id is not None:
            badges[device.staff_id].append(device)
        elif device.kind == DeviceKind.VEHICLE and device.unit_id is not None:
            vehicles[device.unit_id].append(states[device.pk])
    staff: dict[int, list[Entry]] = defaultdict(list)
    for user in people:
        profile = user.profile
        assert profile.unit_id is not None  # by the query
        staff[profile.unit_id].append(_person(user, [states[b.pk] for b in badges[user.pk]]))
    return [
        UnitCoverage(unit, now, on_duty_only, tuple(staff[unit.pk]), tuple(vehicles[unit.pk]))
        for unit in units
    ]


def _person(user: User, badges: list[Entry]) -> Entry:
    name = user.profile.display_name or user.get_username()
    names = tuple(b.name for b in badges)
    heard = max((b.last_fix for b in badges if b.last_fix), default=None)
    if any(b.covered for b in badges):
        return Entry(name, True, last_fix=heard, devices=names, user_id=user.pk)
    if not badges:
        return Entry(name, False, Reason.NO_DEVICE, user_id=user.pk)
    reason = min((b.reason for b in badges), key=lambda r: _HOPE[Reason(r)])
    return Entry(name, False, reason, heard, names, user_id=user.pk)
