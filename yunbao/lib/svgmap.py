"""A tiny SVG map of one polygon and one point, drawn on the server.

The order page needs to show where an order is without loading tiles from the internet
(staff phones are often on poor networks, and tests run offline); tile maps come later.
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry.get("type") == "MultiPolygon":
        return [polygon[0] for polygon in geometry["coordinates"]]
    return []


def frame(geometry: dict[str, Any], lat: float, lon: float, size: int = 240) -> list[float]:
    """The projection of `area_map_svg` for this polygon and point: [min_x, max_y, kx, pad,
    scale], so x = ((lon − min_x)·kx + pad)·scale and y = (max_y − lat + pad)·scale (a page
    script turns a tap back into a point with it)."""
    rings = _rings(geometry)
    xs = [p[0] for ring in rings for p in ring] + [lon]
    ys = [p[1] for ring in rings for p in ring] + [lat]
    # Longitude degrees shrink with latitude; scale x so the map is not stretched.
    kx = math.cos(math.radians(lat))
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
    span = max((max_x - min_x) * kx, max_y - min_y) or 1e-4
    pad = span * 0.15
    return [min_x, max_y, kx, pad, size / (span + 2 * pad)]


def area_map_svg(geometry: dict[str, Any], lat: float, lon: float, size: int = 240) -> SafeString:
    """An SVG of the polygon(s) with the point marked, north up, roughly to scale."""
    rings = _rings(geometry)
    min_x, max_y, kx, pad, scale = frame(geometry, lat, lon, size)

    def xy(x: float, y: float) -> str:
        return f"{((x - min_x) * kx + pad) * scale:.1f},{(max_y - y + pad) * scale:.1f}"

    paths = "".join(
        format_html(
            '<polygon points="{}" class="map-area"/>', " ".join(xy(x, y) for x, y, *_ in ring)
        )
        for ring in rings
    )
    px, py = xy(lon, lat).split(",")
    marker = format_html('<circle cx="{}" cy="{}" r="6" class="map-point"/>', px, py)
    return mark_safe(  # noqa: S308 - every piece above is built with format_html from numbers
        f'<svg viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" '
        f'class="map">{paths}{marker}</svg>'
    )
