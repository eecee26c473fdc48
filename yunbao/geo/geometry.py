"""Checking and converting area geometries: GeoJSON in, validated shapely polygons out.

Shared by `yunbao.geo.actions` (every write) and the `import_areas` command (which checks a
whole file before writing anything), so both refuse exactly the same inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import shapely
from django.utils.translation import gettext as _
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

# The part of the smaller of two same-level areas that may overlap the other before an
# import calls it an overlap: 0.01 % (1 m² of a 100 m grid) absorbs digitising slivers
# along shared edges, while any real double coverage of ground is far larger.
OVERLAP_TOLERANCE = 1e-4


class GeoError(ValueError):
    """Bad input for an area: invalid geometry, wrong parent, duplicate code …"""


GeometryInput: TypeAlias = Mapping[str, Any] | BaseGeometry


def parse_geometry(value: GeometryInput) -> Polygon | MultiPolygon:
    """The validated 2-D (Multi)Polygon of a GeoJSON geometry mapping or shapely geometry.

    Raises `GeoError` unless it is a non-empty, valid Polygon or MultiPolygon whose
    coordinates are finite longitudes (±180) and latitudes (±90).
    """
    if isinstance(value, BaseGeometry):
        geom: BaseGeometry = value
    elif isinstance(value, Mapping):
        try:
            # NaN coordinates only warn here; they are refused below with a clear message.
            with np.errstate(invalid="ignore"):
                geom = shape(value)
        except Exception as exc:  # shapely raises several types for malformed GeoJSON
            raise GeoError(_("Not a GeoJSON geometry: %(error)s") % {"error": exc}) from exc
    else:
        raise GeoError(_("Not a GeoJSON geometry: expected an object."))
    return check_geometry(geom)


def check_geometry(geom: BaseGeometry) -> Polygon | MultiPolygon:
    """`geom` as 2-D if it is a usable area polygon, else `GeoError` saying why."""
    if not isinstance(geom, Polygon | MultiPolygon):
        raise GeoError(
            _("The geometry must be a Polygon or MultiPolygon, not %(type)s.")
            % {"type": geom.geom_type}
        )
    if geom.is_empty:
        raise GeoError(_("The geometry is empty."))
    if geom.has_z:
        # Heights mean nothing for a jurisdiction and would break shared-edge comparisons.
        geom = shapely.force_2d(geom)
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise GeoError(_("The geometry has coordinates that are not finite numbers."))
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    if min_lon < -180 or max_lon > 180 or min_lat < -90 or max_lat > 90:
        raise GeoError(
            _(
                "The geometry lies outside longitude −180…180 / latitude −90…90 "
                "(bounds %(bounds)s); coordinates must be WGS-84 longitude, latitude."
            )
            % {"bounds": ", ".join(f"{v:g}" for v in geom.bounds)}
        )
    if not geom.is_valid:
        raise GeoError(
            _("The geometry is not valid: %(reason)s") % {"reason": explain_validity(geom)}
        )
    if geom.area <= 0:
        raise GeoError(_("The geometry has no area."))
    assert isinstance(geom, Polygon | MultiPolygon)
    return geom


def to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON mapping of `geom` with lists, not tuples, so it equals what the DB returns."""
    result: dict[str, Any] = _listify(mapping(geom))
    return result


def _listify(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_listify(v) for v in value]
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    return value


def derived_fields(geom: BaseGeometry) -> dict[str, float]:
    """Bounding box and representative point, stored beside the geometry on every write."""
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    # representative_point, unlike the centroid, always lies inside (an L-shaped village).
    centre = geom.representative_point()
    return {
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
        "center_lon": centre.x,
        "center_lat": centre.y,
    }


def overlap_share(a: BaseGeometry, b: BaseGeometry) -> float:
    """Share of the smaller of `a` and `b` covered by both (0 when they only touch)."""
    smaller = min(a.area, b.area)
    if smaller <= 0 or not a.intersects(b):
        return 0.0
    share = float(a.intersection(b).area / smaller)
    return share if math.isfinite(share) else 0.0
