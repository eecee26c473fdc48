"""The place picker of the activity form: each village's small SVG map (`lib.svgmap`) with
the numbers that turn a tap on it back into a latitude and longitude.

`frame` repeats `svgmap.area_map_svg`'s projection (x = ((lon − min_x)·kx + pad)·scale,
y = (max_y − lat + pad)·scale) for the map drawn around the village's centre, which lies
inside the village, so the frame does not depend on where the marker is later moved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from yunbao.geo.models import Area
from yunbao.lib.svgmap import _rings, area_map_svg

SIZE = 240


def frame(geometry: dict[str, Any], lat: float, lon: float, size: int = SIZE) -> list[float]:
    rings = _rings(geometry)
    xs = [p[0] for ring in rings for p in ring] + [lon]
    ys = [p[1] for ring in rings for p in ring] + [lat]
    kx = math.cos(math.radians(lat))
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
    span = max((max_x - min_x) * kx, max_y - min_y) or 1e-4
    pad = span * 0.15
    return [min_x, max_y, kx, pad, size / (span + 2 * pad)]


def village_maps(areas: Iterable[Area]) -> dict[str, dict[str, Any]]:
    """For each area: its map (SVG text), the projection frame and its centre."""
    maps = {}
    for area in areas:
        lat, lon = area.center_lat, area.center_lon
        maps[area.code] = {
            "svg": str(area_map_svg(area.geometry, lat, lon, SIZE)),
            "frame": frame(area.geometry, lat, lon),
            "lat": lat,
            "lon": lon,
        }
    return maps
