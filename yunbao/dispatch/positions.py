"""Where field workers are: the one function through which dispatch asks.

Nobody reports a position yet; the fleet issue (phones sending their location) replaces the
body of `latest_positions` with the last reported fix, keeping its signature, so the worker
ranking and the "where would this go?" page need no change.

Until then a person's position is the centre of their service area: the first of their
staff profile's areas (in tree order, as `Area` sorts), else the first area of their unit.
People with neither have no known position and rank after everyone with one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from yunbao.org.models import StaffProfile, Unit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = ["Position", "latest_positions"]

# (latitude, longitude), WGS-84.
Position = tuple[float, float]


def latest_positions(users: Iterable[User]) -> dict[int, Position]:
    """The last known position of each user, by user id; users without one are left out.

    Two queries at most, however many users.
    """
    ids = {user.pk for user in users}
    if not ids:
        return {}
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
