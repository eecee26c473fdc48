"""Tests of the synthetic district and town builders used by the demo and the benchmark."""

from __future__ import annotations

import time

import pytest
from django.utils import translation
from shapely.geometry import shape
from shapely.ops import unary_union

from yunbao.geo.actions import GeoError
from yunbao.geo.models import Area, Level
from yunbao.geo.synthetic import build_district, build_town, metres_per_degree
from yunbao.geo.tests.helpers import SOUTH, WEST

pytestmark = pytest.mark.django_db


def test_it_builds_a_district_from_bounds(district):
    assert district.level == Level.DISTRICT
    assert (district.min_lat, district.min_lon, district.max_lat, district.max_lon) == (
        22.5,
        113.9,
        22.6,
        114.0,
    )
    assert district.jurisdiction_id == "demo.yunbao.org"
    with translation.override("en"), pytest.raises(GeoError, match="south < north"):
        build_district("X", "x", "x", "", (22.6, 113.9, 22.5, 114.0))


def test_it_tiles_the_town_into_communities_and_grids(town):
    communities = list(Area.objects.filter(parent=town).order_by("code"))
    assert [c.code for c in communities] == [f"440399001{k:03d}" for k in range(1, 5)]
    assert communities[0].name == "云报街道第1社区"
    assert communities[0].name_en == "Yunbao Street Community 1"
    grids = list(Area.objects.filter(level=Level.GRID, path__startswith=town.path))
    assert len(grids) == 16
    assert {g.parent_id for g in grids} == {c.pk for c in communities}
    first = Area.objects.get(code="4403990010010001")
    assert (first.min_lat, first.min_lon) == (SOUTH, WEST)
    assert (first.name, first.name_en) == (
        "云报街道第1社区第1网格",
        "Yunbao Street Community 1 Grid 1",
    )
    # The grids cover the street exactly, without gaps or overlaps.
    union = unary_union([shape(g.geometry) for g in grids])
    street = shape(town.geometry)
    assert union.symmetric_difference(street).area < 1e-15
    assert sum(shape(g.geometry).area for g in grids) == pytest.approx(street.area, rel=1e-9)


def test_it_makes_grids_of_about_the_requested_size(town):
    grid = Area.objects.get(code="4403990010010001")
    per_lat, per_lon = metres_per_degree((grid.min_lat + grid.max_lat) / 2)
    assert (grid.max_lat - grid.min_lat) * per_lat == pytest.approx(100, rel=0.001)
    assert (grid.max_lon - grid.min_lon) * per_lon == pytest.approx(100, rel=0.001)


def test_it_uses_given_community_names_and_uneven_bands(district):
    town = build_town(
        district=district,
        code="440399002",
        name="江高镇",
        name_en="Jianggao Town",
        south=22.55,
        west=113.95,
        rows=5,
        cols=3,
        communities=(2, 1),
        community_names=["甲村", ("乙村", "Yi Village")],
    )
    first, second = Area.objects.filter(parent=town).order_by("code")
    assert (first.name, first.name_en) == ("甲村", "Jianggao Town Community 1")
    assert (second.name, second.name_en) == ("乙村", "Yi Village")
    assert first.children.count() == 9  # 3 rows × 3 columns
    assert second.children.count() == 6  # 2 rows × 3 columns


def test_it_builds_ten_thousand_grids_in_a_few_seconds(district):
    started = time.perf_counter()
    town = build_town(
        district=district,
        code="440399009",
        name="大镇",
        name_en="Big Town",
        south=22.5,
        west=113.9,
        rows=100,
        cols=100,
        communities=(1, 1),
    )
    elapsed = time.perf_counter() - started
    assert Area.objects.filter(level=Level.GRID, path__startswith=town.path).count() == 10_000
    assert Area.objects.filter(code="440399009001" + "10000").exists()
    # Generous bound (PostgreSQL, slow CI); it takes about 1.5 s on SQLite here.
    assert elapsed < 60
