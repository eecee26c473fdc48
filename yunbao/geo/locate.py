"""Point → grid → community → street → district, and the H3 cell of a point.

Each process keeps one shapely STRtree over every grid polygon, with each grid's ancestors
resolved, built lazily on first use. It is dropped at once when `yunbao.geo.actions` changes
an area in this process, and rebuilt when another process changed one: at most every
`settings.YUNBAO_GEO_CACHE_SECONDS` a lookup compares a cheap fingerprint of the area table
(row count and latest `updated_at`) with the one the index was built from.

A point on the edge or corner shared by several grids belongs to the one with the smallest
code, so every process answers the same for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import h3
import numpy as np
import shapely
from django.conf import settings
from django.db.models import Count, Max
from django.utils.translation import gettext as _
from shapely.geometry import shape

from yunbao.geo.models import Area, Level

__all__ = [
    "Coordinate",
    "InvalidCoordinates",
    "LocateError",
    "Location",
    "OutsideDistrict",
    "h3_cell",
    "invalidate_cache",
    "locate",
    "locate_many",
]


# What callers may pass as a latitude or longitude: numbers, or text from a form or a URL.
Coordinate: TypeAlias = float | str | Decimal


class LocateError(ValueError):
    """A point cannot be located."""


class InvalidCoordinates(LocateError):
    """The latitude or longitude is not a finite number in range."""


class OutsideDistrict(LocateError):
    """No grid contains the point."""


@dataclass(frozen=True)
class Location:
    """Where a point lies. The areas are shared by the cache: treat them as read-only."""

    grid: Area
    community: Area | None
    street: Area | None
    district: Area | None


@dataclass(frozen=True)
class _Index:
    tree: shapely.STRtree
    # locations[i] belongs to tree geometry i; grids are ordered by code, so among several
    # grids holding a point the smallest index is the smallest code.
    locations: list[Location]
    fingerprint: tuple[int, datetime | None]


_lock = threading.Lock()
_index: _Index | None = None
_checked_at = 0.0
# Bumped by every invalidation, so an index built from data read before it is not kept.
_generation = 0


def invalidate_cache() -> None:
    """Forget this process's index; the next lookup rebuilds it from the database."""
    global _index, _generation
    with _lock:
        _index = None
        _generation += 1


def _fingerprint() -> tuple[int, datetime | None]:
    row = Area.objects.aggregate(n=Count("id"), last=Max("updated_at"))
    return int(row["n"]), row["last"]


def _build(fingerprint: tuple[int, datetime | None]) -> _Index:
    grids = list(Area.objects.filter(level=Level.GRID).order_by("code"))
    upper = {a.pk: a for a in Area.objects.exclude(level=Level.GRID)}
    locations = []
    for grid in grids:
        by_level: dict[str, Area] = {}
        for pk in grid.ancestor_ids():
            ancestor = upper.get(pk)
            if ancestor is not None:
                by_level[ancestor.level] = ancestor
        locations.append(
            Location(
                grid=grid,
                community=by_level.get(Level.COMMUNITY),
                street=by_level.get(Level.STREET),
                district=by_level.get(Level.DISTRICT),
            )
        )
    geoms = [shape(g.geometry) for g in grids]
    return _Index(tree=shapely.STRtree(geoms), locations=locations, fingerprint=fingerprint)


def _current_index() -> _Index:
    global _index, _checked_at
    index, now = _index, time.monotonic()
    if index is not None and now - _checked_at < settings.YUNBAO_GEO_CACHE_SECONDS:
        return index
    with _lock:
        generation = _generation
        index = _index
        if index is not None and now - _checked_at < settings.YUNBAO_GEO_CACHE_SECONDS:
            return index  # another thread checked while we waited for the lock
    # Read the fingerprint before the areas: a change in between makes the next check
    # rebuild again rather than keep an index newer than its fingerprint says.
    fingerprint = _fingerprint()
    if index is None or index.fingerprint != fingerprint:
        index = _build(fingerprint)
    with _lock:
        if generation == _generation:
            _index, _checked_at = index, now
    return index


def _name(limit: float) -> str:
    # Translated only when a message is needed: gettext per lookup would halve the speed.
    return str(_("latitude")) if limit == _LAT_LIMIT else str(_("longitude"))


_LAT_LIMIT, _LON_LIMIT = 90.0, 180.0
_NUMBER_TYPES = (int, float, Decimal, str, np.integer, np.floating)


def _coordinate(value: Any, limit: float) -> float:
    # bool is an int to Python, but True is no latitude.
    if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
        raise InvalidCoordinates(
            _("The %(name)s must be a number, not %(value)r.")
            % {"name": _name(limit), "value": value}
        )
    try:
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise InvalidCoordinates(
            _("The %(name)s %(value)r is not a number.") % {"name": _name(limit), "value": value}
        ) from exc
    if not -limit <= number <= limit:  # NaN fails every comparison, infinities the range
        raise InvalidCoordinates(
            _("The %(name)s must be a number between −%(limit)g and %(limit)g, not %(value)r.")
            % {"name": _name(limit), "limit": limit, "value": value}
        )
    return number


def check_coordinates(lat: Any, lon: Any) -> tuple[float, float]:
    """`(lat, lon)` as floats, or `InvalidCoordinates` if either is not a valid WGS-84 value.

    Numbers and numeric strings are accepted; NaN, infinities and out-of-range values not.
    """
    return _coordinate(lat, _LAT_LIMIT), _coordinate(lon, _LON_LIMIT)


def locate(lat: Coordinate, lon: Coordinate) -> Location:
    """The grid (and its community, street and district) holding the WGS-84 point."""
    lat, lon = check_coordinates(lat, lon)
    index = _current_index()
    hits = index.tree.query(shapely.Point(lon, lat), predicate="intersects")
    if hits.size == 0:
        raise OutsideDistrict(
            _("The point %(lat).6f, %(lon).6f is outside every grid of the district.")
            % {"lat": lat, "lon": lon}
        )
    return index.locations[int(hits.min())]


def _check_points(points: Sequence[tuple[Coordinate, Coordinate]]) -> tuple[Any, Any]:
    """Latitude and longitude arrays of `points`, checked like `check_coordinates`."""
    # Fast path: plain numbers, converted and range-checked by numpy in one go.
    try:
        plain = not any(type(v) is bool for point in points for v in point)
    except TypeError:  # a point that is not a pair
        plain = False
    if plain:
        try:
            array = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if (
            array is not None
            and array.shape == (len(points), 2)
            and (np.abs(array[:, 0]) <= _LAT_LIMIT).all()
            and (np.abs(array[:, 1]) <= _LON_LIMIT).all()
        ):
            return array[:, 0], array[:, 1]
    # Something is off: check point by point to say which one and why.
    lats = np.empty(len(points))
    lons = np.empty(len(points))
    for i, point in enumerate(points):
        try:
            lat, lon = point
            lats[i], lons[i] = check_coordinates(lat, lon)
        except (TypeError, ValueError) as exc:
            raise InvalidCoordinates(
                _("Point %(index)d: %(error)s") % {"index": i, "error": exc}
            ) from exc
    return lats, lons


def locate_many(points: Sequence[tuple[Coordinate, Coordinate]]) -> list[Location | None]:
    """`locate` for many `(lat, lon)` points with one index query; None where outside.

    A point with invalid coordinates raises `InvalidCoordinates` naming its position: it is
    a caller's mistake, not an answer about the ground.
    """
    n = len(points)
    if n == 0:
        return []
    lats, lons = _check_points(points)
    index = _current_index()
    found_point, found_grid = index.tree.query(shapely.points(lons, lats), predicate="intersects")
    # Several grids hold a point on a shared edge: keep the smallest index (= code).
    none = len(index.locations)
    best = np.full(n, none, dtype=np.int64)
    np.minimum.at(best, found_point, found_grid)
    locations = index.locations
    return [locations[b] if b != none else None for b in best.tolist()]


def h3_cell(lat: Coordinate, lon: Coordinate) -> str:
    """The H3 cell (v4 string id) of the point at `settings.YUNBAO_H3_RESOLUTION`."""
    lat, lon = check_coordinates(lat, lon)
    return str(h3.latlng_to_cell(lat, lon, settings.YUNBAO_H3_RESOLUTION))
