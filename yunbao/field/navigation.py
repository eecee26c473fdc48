"""Navigation links for a task: Amap, Baidu and OpenStreetMap, each in its own datum.

Yunbao stores WGS-84. The three map services each want another coordinate system, and a
pin in the wrong one lands up to ~700 m off, on the wrong side of a road:

- Amap (高德) draws GCJ-02: `geo.coords.wgs84_to_gcj02`, and `coordinate=gaode` in the URI.
- Baidu (百度) draws BD-09, its own further offset of GCJ-02. We convert here
  (`gcj02_to_bd09`, the published formula, accurate to a few centimetres) and say
  `coord_type=bd09ll`, rather than passing WGS-84 with `coord_type=wgs84`: the BD-09 we send
  is then exactly what the link shows and what the tests check, and it does not depend on
  which of Baidu's pages (web, app, mini-program) honours the conversion parameter.
- OpenStreetMap is WGS-84 as stored.

Amap and Baidu links are their documented web "URI API" addresses, which open the native
app when it is installed (`callnative=1` for Amap) and a web map otherwise; OSM opens its
web map. A `geo:` URI lets Android offer any other map app (WGS-84 by RFC 5870).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from yunbao.geo.coords import wgs84_to_gcj02

__all__ = ["NavLink", "gcj02_to_bd09", "nav_links", "wgs84_to_bd09"]

# Baidu's offset works on a "pi × 3000 / 180" wave, as published with its SDK samples.
_X_PI = math.pi * 3000.0 / 180.0
SOURCE = "yunbao.field"  # Baidu and Amap ask callers to name themselves


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """The BD-09 `(lat, lon)` of a GCJ-02 point."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def wgs84_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """The BD-09 `(lat, lon)` of a WGS-84 point (through GCJ-02, as Baidu defines it)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


@dataclass(frozen=True)
class NavLink:
    code: str
    label: Promise
    url: str


def nav_links(lat: float, lon: float, name: str) -> list[NavLink]:
    """Links that navigate to the WGS-84 point `(lat, lon)`, labelled `name` where the
    service shows one."""
    g_lat, g_lon = wgs84_to_gcj02(lat, lon)
    b_lat, b_lon = wgs84_to_bd09(lat, lon)
    amap = "https://uri.amap.com/navigation?" + urlencode(
        {
            "to": f"{g_lon:.6f},{g_lat:.6f},{name}",
            "mode": "car",
            "coordinate": "gaode",
            "callnative": "1",
            "src": SOURCE,
        }
    )
    baidu = "https://api.map.baidu.com/marker?" + urlencode(
        {
            "location": f"{b_lat:.6f},{b_lon:.6f}",
            "title": name,
            "content": name,
            "coord_type": "bd09ll",
            "output": "html",
            "src": SOURCE,
        }
    )
    osm = (
        "https://www.openstreetmap.org/?"
        + urlencode({"mlat": f"{lat:.6f}", "mlon": f"{lon:.6f}"})
        + f"#map=18/{lat:.6f}/{lon:.6f}"
    )
    return [
        NavLink("amap", _("Amap"), amap),
        NavLink("baidu", _("Baidu Maps"), baidu),
        NavLink("osm", _("OpenStreetMap"), osm),
        NavLink("geo", _("Other map app"), f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}"),
    ]
