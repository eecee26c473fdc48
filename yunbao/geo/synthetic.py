"""Synthetic but realistic area trees for the demo, the tests and the benchmark.

`build_district` makes a rectangular district; `build_town` makes a street/town under it,
split into communities, each tiled into square grids of about `cell_m` metres. Neighbouring
cells share exactly the same edge coordinates, as properly digitised grids do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from yunbao.geo.actions import ChildSpec, GeoError, bulk_create_children, create_area
from yunbao.geo.models import Area, Level

__all__ = ["box_geojson", "build_district", "build_town", "metres_per_degree"]

# Rounding of generated coordinates: 1e-9° is about 0.1 mm, far below any survey, and
# keeps the stored GeoJSON short.
_DIGITS = 9


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of latitude and of longitude at `lat` on the WGS-84 ellipsoid."""
    phi = math.radians(lat)
    per_lat = 111132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    per_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    return per_lat, per_lon


def box_geojson(south: float, west: float, north: float, east: float) -> dict[str, object]:
    """A GeoJSON Polygon of the rectangle, exterior ring counter-clockwise (RFC 7946)."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def build_district(
    code: str,
    name: str,
    name_en: str,
    jurisdiction_id: str,
    polygon_bounds: tuple[float, float, float, float],
) -> Area:
    """A district covering the rectangle `polygon_bounds` = (south, west, north, east)."""
    south, west, north, east = polygon_bounds
    if not (south < north and west < east):
        raise GeoError(
            _("The bounds must be (south, west, north, east) with south < north, west < east.")
        )
    return create_area(
        level=Level.DISTRICT,
        code=code,
        name=name,
        name_en=name_en,
        jurisdiction_id=jurisdiction_id,
        geometry=box_geojson(south, west, north, east),
    )


def _bands(total: int, parts: int) -> list[tuple[int, int]]:
    """Split `total` cells into `parts` consecutive bands whose sizes differ by at most 1."""
    base, extra = divmod(total, parts)
    bands, start = [], 0
    for i in range(parts):
        size = base + (1 if i < extra else 0)
        bands.append((start, start + size))
        start += size
    return bands


def _community_name(
    k: int, town_name: str, town_name_en: str, names: Sequence[str | tuple[str, str]] | None
) -> tuple[str, str]:
    if names and k <= len(names):
        given = names[k - 1]
        if isinstance(given, tuple):
            return given
        return given, f"{town_name_en} Community {k}".strip()
    return f"{town_name}第{k}社区", f"{town_name_en} Community {k}".strip()


def build_town(
    *,
    district: Area,
    code: str,
    name: str,
    name_en: str,
    south: float,
    west: float,
    rows: int,
    cols: int,
    cell_m: float = 100,
    communities: tuple[int, int] = (2, 2),
    community_names: Sequence[str | tuple[str, str]] | None = None,
) -> Area:
    """A street/town under `district` of `rows` × `cols` grids of about `cell_m` metres.

    The grids are split into `communities` = (rows of communities, columns of communities)
    rectangular communities. Codes: community `<code>NNN`, grid `<community code>NNNN`
    (numbered from 1, row by row from the south-west). `community_names` gives Chinese
    names, or (Chinese, English) pairs, of the communities in the same order.
    """
    community_rows, community_cols = communities
    if rows < 1 or cols < 1 or community_rows < 1 or community_cols < 1:
        raise GeoError(_("Rows, columns and communities must be at least 1."))
    if community_rows > rows or community_cols > cols:
        raise GeoError(_("There are more communities than grid rows or columns."))
    if cell_m <= 0:
        raise GeoError(_("The grid size must be positive."))
    per_lat, _per_lon = metres_per_degree(south)
    dlat = cell_m / per_lat
    # Degrees of longitude per metre shrink towards the pole; use the town's middle latitude.
    _per_lat, per_lon = metres_per_degree(south + rows * dlat / 2)
    dlon = cell_m / per_lon
    # Each edge coordinate is computed once, so neighbours share it bit for bit.
    lats = [round(south + i * dlat, _DIGITS) for i in range(rows + 1)]
    lons = [round(west + j * dlon, _DIGITS) for j in range(cols + 1)]
    with transaction.atomic():
        street = create_area(
            level=Level.STREET,
            code=code,
            name=name,
            name_en=name_en,
            parent=district,
            geometry=box_geojson(lats[0], lons[0], lats[-1], lons[-1]),
        )
        k = 0
        for r0, r1 in _bands(rows, community_rows):
            for c0, c1 in _bands(cols, community_cols):
                k += 1
                c_name, c_name_en = _community_name(k, name, name_en, community_names)
                community = create_area(
                    level=Level.COMMUNITY,
                    code=f"{code}{k:03d}",
                    name=c_name,
                    name_en=c_name_en,
                    parent=street,
                    geometry=box_geojson(lats[r0], lons[c0], lats[r1], lons[c1]),
                )
                width = max(4, len(str((r1 - r0) * (c1 - c0))))
                grids = []
                n = 0
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        n += 1
                        grids.append(
                            ChildSpec(
                                code=f"{community.code}{n:0{width}d}",
                                name=f"{c_name}第{n}网格",
                                name_en=f"{c_name_en} Grid {n}".strip(),
                                geometry=box_geojson(lats[r], lons[c], lats[r + 1], lons[c + 1]),
                            )
                        )
                bulk_create_children(community, grids)
    return street
