"""The place picker of the activity form: each village's small SVG map (`lib.svgmap`) with
the numbers that turn a tap on it back into a latitude and longitude (`svgmap.frame`), for
the map drawn around the village's centre, which lies inside the village, so the frame does
not depend on where the marker is later moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from yunbao.geo.models import Area
from yunbao.lib.svgmap import area_map_svg, frame

SIZE = 240


def village_maps(areas: Iterable[Area]) -> dict[str, dict[str, Any]]:
    """For each area: its map (SVG text), the projection frame and its centre."""
    maps = {}
    for area in areas:
        lat, lon = area.center_lat, area.center_lon
        maps[area.code] = {
            "svg": str(area_map_svg(area.geometry, lat, lon, SIZE)),
            "frame": frame(area.geometry, lat, lon, SIZE),
            "lat": lat,
            "lon": lon,
        }
    return maps
