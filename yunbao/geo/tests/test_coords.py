"""Tests of WGS-84 ↔ GCJ-02 against published reference pairs and by round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yunbao.geo.coords import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02

# (WGS-84 lat, lon), (GCJ-02 lat, lon). Shanghai, Shenzhen and Beijing are the test vectors
# of googollee/eviltransform (python/test.py, `TESTS`, checked there to 6 decimals); the
# last pair is from wandergis/coordtransform (test/app.js: wgs84togcj02(116.404, 39.915) →
# [116.41024449916938, 39.91640428150164], which is lon, lat), the same Krasovsky formula.
REFERENCE_PAIRS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
    ((39.915, 116.404), (39.91640428150164, 116.41024449916938)),
]


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE_PAIRS)
def test_it_matches_the_published_forward_transform(wgs, gcj):
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE_PAIRS)
def test_it_inverts_the_published_pairs_to_within_1e_7_degrees(wgs, gcj):
    assert gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-7)


def test_it_matches_gcoord_for_gcj02_to_wgs84():
    # hujiulong/gcoord, test/unit/crs/GCJ02.spec.js: GCJ02 → WGS84 of [123, 45] (lon, lat)
    # is [122.99395597, 44.99804071], checked there to 5 decimals.
    lat, lon = gcj02_to_wgs84(45.0, 123.0)
    assert lat == pytest.approx(44.99804071, abs=1e-5)
    assert lon == pytest.approx(122.99395597, abs=1e-5)


@pytest.mark.parametrize(
    "point",
    [(51.5072, -0.1276), (-33.8688, 151.2093), (37.7749, -122.4194), (0.5, 100.0)],
)
def test_it_leaves_points_outside_china_unchanged(point):
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_it_offsets_points_in_china_by_a_few_hundred_metres():
    lat, lon = wgs84_to_gcj02(22.54, 114.05)  # Shenzhen
    assert not out_of_china(22.54, 114.05)
    assert 0.0005 < abs(lat - 22.54) + abs(lon - 114.05) < 0.01


# Inside the offset rectangle with a margin: right at its edge GCJ-02 jumps, and a point
# there has two WGS-84 preimages, so the round trip is only promised away from it.
inside_lat = st.floats(min_value=0.85, max_value=55.8, allow_nan=False)
inside_lon = st.floats(min_value=72.05, max_value=137.8, allow_nan=False)


@given(inside_lat, inside_lon)
def test_it_round_trips_wgs84_through_gcj02(lat, lon):
    back_lat, back_lon = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon))
    assert abs(back_lat - lat) < 1e-7
    assert abs(back_lon - lon) < 1e-7


@given(inside_lat, inside_lon)
def test_it_round_trips_gcj02_through_wgs84(lat, lon):
    back_lat, back_lon = wgs84_to_gcj02(*gcj02_to_wgs84(lat, lon))
    assert abs(back_lat - lat) < 1e-7
    assert abs(back_lon - lon) < 1e-7
