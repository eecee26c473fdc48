"""WGS-84 ↔ GCJ-02 ("Mars coordinates") for drawing on Chinese map tiles.

Yunbao stores WGS-84 (what GPS receivers and phones report). Map tiles from Chinese
providers (AMap/Gaode, Tencent) are drawn in GCJ-02, offset by up to ~700 m, so points are
converted for display and positions picked on such a map are converted back.

The forward transform is the widely published Krasovsky-ellipsoid formula (as in the
eviltransform and coordtransform libraries), applied only inside the usual rough rectangle
around China; outside it there is no offset. The inverse has no closed form and is solved by
fixed-point iteration to well below 1e-7 degrees (about 1 cm).
"""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS_M", "gcj02_to_wgs84", "haversine_m", "out_of_china", "wgs84_to_gcj02"]

# Mean Earth radius (IUGG), for great-circle distances.
EARTH_RADIUS_M = 6_371_008.8

# Semi-major axis and eccentricity² of the Krasovsky 1940 ellipsoid, which GCJ-02 uses.
_A = 6378245.0
_EE = 0.00669342162296594323
# Stop iterating when the forward transform of the estimate is this close (degrees) to the
# GCJ-02 point; two orders below the promised 1e-7 so rounding never spoils the promise.
_TOLERANCE = 1e-9
_MAX_ITERATIONS = 30


def out_of_china(lat: float, lon: float) -> bool:
    """True outside the rectangle in which GCJ-02 differs from WGS-84."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 minus WGS-84, in degrees, at the WGS-84 point (inside China)."""
    x, y = lon - 105.0, lat - 35.0
    waves = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    d_lat += waves
    d_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    d_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2 / 3
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    d_lon += waves
    d_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    d_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    # Metres to degrees on the Krasovsky ellipsoid at this latitude.
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lat, d_lon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """The GCJ-02 `(lat, lon)` of a WGS-84 point (unchanged outside China)."""
    if out_of_china(lat, lon):
        return lat, lon
    d_lat, d_lon = _offset(lat, lon)
    return lat + d_lat, lon + d_lon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """The WGS-84 `(lat, lon)` whose GCJ-02 transform is the given point.

    Solves `wgs84_to_gcj02(w) == (lat, lon)` by iterating w ← w − (gcj(w) − target); the
    offset changes so slowly with position that each step gains several digits.
    """
    w_lat, w_lon = lat, lon
    for _ in range(_MAX_ITERATIONS):
        g_lat, g_lon = wgs84_to_gcj02(w_lat, w_lon)
        e_lat, e_lon = g_lat - lat, g_lon - lon
        if abs(e_lat) < _TOLERANCE and abs(e_lon) < _TOLERANCE:
            break
        w_lat, w_lon = w_lat - e_lat, w_lon - e_lon
    return w_lat, w_lon


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points (on the mean sphere)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
