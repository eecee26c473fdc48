"""Where field workers are: the one function through which dispatch asks.

A person's position is the last fix of their staff badge (a phone running a tracker, or a
badge; `yunbao.fleet`) when it is fresh: fixed within FLEET_POSITION_MAX_AGE_MINUTES, the
newest valid fix among their active badges (`fleet.devices.latest_for_users`). Otherwise —
no badge, badge switched off, fix too old — it is the centre of their service area: the
first of their staff profile's areas (in tree order, as `Area` sorts), else the first area
of their unit. People with neither have no known position and rank after everyone with
one. The worker ranking and the "where would this go?" page need no change for either.

Area centres change only when someone's areas, their unit's areas or an area's centre is
edited, yet every automatic decision asks for them, so each process keeps what it read for
`TTL` seconds, together with whether the person carries an active badge (which changes as
rarely). Edits through the ORM clear this process's copy at once (signals below); other
processes see them within `TTL`, as with the duty roster and the routing rules.

Fixes change every few seconds and are never kept: for the people known to carry a badge
(and those read afresh) they are read on every call, in one query. So a call costs no
query when nobody asked for carries a badge and everything is cached, one when someone
does, and three at most when the cache has expired.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from yunbao.fleet.devices import latest_for_users, position_max_age
from yunbao.fleet.models import Device
from yunbao.geo.models import Area
from yunbao.org.models import StaffProfile, Unit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = ["TTL", "Position", "clear_cache", "latest_positions"]

# (latitude, longitude), WGS-84.
Position = tuple[float, float]

TTL = 10.0

_lock = threading.Lock()
# user id → (area-centre position or None: none known, carries an active badge, monotonic
# time it was read).
_known: dict[int, tuple[Position | None, bool, float]] = {}
# Bumped by every clear, so positions read before an edit are not kept after it.
_generation = 0


def clear_cache(**kwargs: Any) -> None:
    """Forget the positions this process read; also the receiver of the edits that move them."""
    global _generation
    with _lock:
        _known.clear()
        _generation += 1


# Devices: a badge given to someone, taken back or switched off.
for _model in (StaffProfile, Unit, Area, Device):
    post_save.connect(clear_cache, sender=_model, dispatch_uid=f"positions-saved-{_model}")
    post_delete.connect(clear_cache, sender=_model, dispatch_uid=f"positions-deleted-{_model}")
for _through in (StaffProfile.areas.through, Unit.areas.through):
    m2m_changed.connect(clear_cache, sender=_through, dispatch_uid=f"positions-m2m-{_through}")


def latest_positions(users: Iterable[User]) -> dict[int, Position]:
    """The last known position of each user, by user id; users without one are left out.

    A fresh badge fix wins over the area centre. No query for people read within `TTL`
    who carry no badge; one for the fixes of those who do; three at most.
    """
    ids = {user.pk for user in users}
    if not ids:
        return {}
    now = time.monotonic()
    known = _known
    positions: dict[int, Position] = {}
    missing = set()
    carriers = set()
    for user_id in ids:
        entry = known.get(user_id)
        if entry is None or now - entry[2] > TTL:
            missing.add(user_id)
            continue
        if entry[0] is not None:
            positions[user_id] = entry[0]
        if entry[1]:
            carriers.add(user_id)
    if not missing and not carriers:
        return positions
    generation = _generation
    # The people read afresh are asked too: the answer also says who carries a badge.
    fixes = latest_for_users(missing | carriers, since=timezone.now() - position_max_age())
    if missing:
        read = _read_positions(missing)
        positions.update(read)
        with _lock:
            if generation == _generation:
                for user_id in missing:
                    _known[user_id] = (read.get(user_id), user_id in fixes, now)
    for user_id, fix in fixes.items():
        if fix is not None:
            positions[user_id] = (fix.lat, fix.lon)
    return positions


def _read_positions(ids: set[int]) -> dict[int, Position]:
    """The area-centre position of each of these users that has one (two queries at most)."""
    positions: dict[int, Position] = {}
    # Ordered by path so the first row per person is their first area in tree order.
    through = StaffProfile.areas.through
    rows = (
        through.objects.filter(staffprofile__user_id__in=ids)
        .order_by("staffprofile__user_id", "area__path", "area_id")
        .values_list("staffprofile__user_id", "area__center_lat", "area__center_lon")
    )
    for user_id, lat, lon in rows:
        positions.setdefault(user_id, (lat, lon))
    rest = ids - positions.keys()
    if rest:
        # People without areas of their own: their unit's first area, in the same way.
        unit_areas = (
            Unit.areas.through.objects.filter(unit__staff__user_id__in=rest)
            .order_by("unit__staff__user_id", "area__path", "area_id")
            .values_list("unit__staff__user_id", "area__center_lat", "area__center_lon")
        )
        for user_id, lat, lon in unit_areas:
            positions.setdefault(user_id, (lat, lon))
    return positions
