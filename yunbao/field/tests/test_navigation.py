"""Navigation links: each map service gets the point in its own coordinate system."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from yunbao.field.navigation import gcj02_to_bd09, nav_links, wgs84_to_bd09
from yunbao.geo.coords import haversine_m, wgs84_to_gcj02

# Tiananmen, WGS-84.
WGS = (39.908823, 116.397470)


def test_bd09_matches_the_published_transform() -> None:
    # coordtransform's README: gcj02tobd09(116.404, 39.915)
    # = [116.41036949371029, 39.92133699351021]
    lat, lon = gcj02_to_bd09(39.915, 116.404)
    assert lat == pytest.approx(39.92133699351021, abs=1e-9)
    assert lon == pytest.approx(116.41036949371029, abs=1e-9)


def test_bd09_is_offset_a_few_hundred_metres_from_gcj02_in_china() -> None:
    gcj = wgs84_to_gcj02(*WGS)
    bd = wgs84_to_bd09(*WGS)
    assert 700 < haversine_m(*gcj, *bd) < 1200  # BD-09's own offset, about 1 km in Beijing


def test_links_use_gcj02_for_amap_bd09_for_baidu_and_wgs84_for_osm() -> None:
    links = {link.code: link.url for link in nav_links(*WGS, "井盖")}
    amap = parse_qs(urlsplit(links["amap"]).query)
    lon, lat, name = amap["to"][0].split(",")
    g_lat, g_lon = wgs84_to_gcj02(*WGS)
    assert (float(lat), float(lon)) == pytest.approx((g_lat, g_lon), abs=1e-6)
    assert name == "井盖"
    assert amap["coordinate"] == ["gaode"]

    baidu = parse_qs(urlsplit(links["baidu"]).query)
    b_lat, b_lon = wgs84_to_bd09(*WGS)
    shown = tuple(float(x) for x in baidu["location"][0].split(","))
    assert shown == pytest.approx((b_lat, b_lon), abs=1e-6)
    assert baidu["coord_type"] == ["bd09ll"]

    osm = urlsplit(links["osm"])
    assert parse_qs(osm.query) == {"mlat": ["39.908823"], "mlon": ["116.397470"]}
    assert osm.fragment == "map=18/39.908823/116.397470"
    assert links["geo"].startswith("geo:39.908823,116.397470")


def test_outside_china_amap_gets_the_point_unshifted() -> None:
    links = {link.code: link.url for link in nav_links(51.5, -0.12, "x")}
    amap = parse_qs(urlsplit(links["amap"]).query)
    assert amap["to"] == ["-0.120000,51.500000,x"]
    assert wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)
