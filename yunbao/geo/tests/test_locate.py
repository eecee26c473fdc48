"""Tests of point → grid lookup, its cache, and the H3 cell of a point."""

from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal

import h3
import pytest
from django.utils import timezone, translation

from yunbao.geo.actions import update_area
from yunbao.geo.locate import (
    InvalidCoordinates,
    LocateError,
    Location,
    OutsideDistrict,
    h3_cell,
    locate,
    locate_many,
)
from yunbao.geo.models import Area, Level
from yunbao.geo.synthetic import box_geojson
from yunbao.geo.tests.helpers import grid_edges

pytestmark = pytest.mark.django_db


def _centre(area: Area) -> tuple[float, float]:
    return (area.min_lat + area.max_lat) / 2, (area.min_lon + area.max_lon) / 2


def test_it_finds_the_grid_and_its_ancestors(town):
    grid = Area.objects.get(code="440399001001" + "0001")
    location = locate(*_centre(grid))
    assert isinstance(location, Location)
    assert location.grid.pk == grid.pk
    assert location.community is not None
    assert location.community.code == "440399001001"
    assert location.street is not None
    assert location.street.pk == town.pk
    assert location.district is not None
    assert location.district.code == "440399"


def test_it_finds_every_grid_from_its_centre(town):
    for grid in Area.objects.filter(level=Level.GRID):
        assert locate(*_centre(grid)).grid.code == grid.code


def test_it_resolves_a_shared_edge_to_the_smallest_code(town):
    lats, lons = grid_edges(town)
    # On the vertical edge between the first two grids of the south-west community.
    on_edge = ((lats[0] + lats[1]) / 2, lons[1])
    holders = sorted(
        g.code
        for g in Area.objects.filter(level=Level.GRID)
        if g.min_lon <= on_edge[1] <= g.max_lon and g.min_lat <= on_edge[0] <= g.max_lat
    )
    assert len(holders) == 2
    assert locate(*on_edge).grid.code == holders[0]
    assert locate_many([on_edge])[0].grid.code == holders[0]  # type: ignore[union-attr]


def test_it_resolves_a_corner_of_four_grids_and_two_communities(town):
    lats, lons = grid_edges(town)
    # The town's centre is the corner of four grids in four different communities.
    corner = (lats[2], lons[2])
    holders = sorted(
        g.code
        for g in Area.objects.filter(level=Level.GRID)
        if g.min_lon <= corner[1] <= g.max_lon and g.min_lat <= corner[0] <= g.max_lat
    )
    assert len(holders) == 4
    assert len({code[:12] for code in holders}) == 4
    assert locate(*corner).grid.code == holders[0]
    assert locate_many([corner] * 3) == [locate(*corner)] * 3


def test_it_counts_the_outer_boundary_as_inside(town):
    lats, lons = grid_edges(town)
    assert locate(lats[0], lons[0]).grid.code == "4403990010010001"


@pytest.mark.parametrize("side", ["south", "west", "north", "east"])
def test_it_raises_outside_district_beyond_the_grids(town, side):
    lats, lons = grid_edges(town)
    lat, lon = {
        "south": (lats[0] - 0.0001, lons[1]),
        "west": (lats[1], lons[0] - 0.0001),
        "north": (lats[-1] + 0.01, lons[1]),
        "east": (lats[1], lons[-1] + 0.01),
    }[side]
    with translation.override("en"), pytest.raises(OutsideDistrict, match="outside every grid"):
        locate(lat, lon)
    assert locate_many([(lat, lon)]) == [None]


def test_it_raises_outside_district_when_there_are_no_grids(db):
    with pytest.raises(OutsideDistrict):
        locate(22.5, 113.9)
    assert locate_many([(22.5, 113.9)]) == [None]


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (math.nan, 113.9),
        (22.5, math.nan),
        (math.inf, 113.9),
        (22.5, -math.inf),
        (90.0001, 113.9),
        (-91, 113.9),
        (22.5, 180.5),
        (22.5, -181),
        ("north", 113.9),
        ("22.5", "east"),
        ("", 113.9),
        ("nan", 113.9),
        ("1e400", 113.9),
        (None, 113.9),
        (True, 113.9),
        ([22.5], 113.9),
        (22.5, {"lon": 113.9}),
    ],
)
def test_it_refuses_invalid_coordinates(town, lat, lon):
    with pytest.raises(InvalidCoordinates) as caught:
        locate(lat, lon)
    assert isinstance(caught.value, LocateError)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidCoordinates):
        locate_many([(22.52, 113.92), (lat, lon)])
    with pytest.raises(InvalidCoordinates):
        h3_cell(lat, lon)


def test_it_says_which_coordinate_is_wrong_in_english():
    with (
        translation.override("en"),
        pytest.raises(InvalidCoordinates, match=r"latitude.*[-−]90"),
    ):
        locate(95, 113.9)
    with translation.override("en"), pytest.raises(InvalidCoordinates, match="longitude"):
        locate(22.5, "x")
    with translation.override("en"), pytest.raises(InvalidCoordinates, match="Point 1"):
        locate_many([(22.5, 113.9), (22.5,)])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [5, None, "ab", (1.0, 2.0, 3.0), (22.5, math.nan)])
def test_it_names_the_bad_point_of_a_batch(town, bad):
    with translation.override("en"), pytest.raises(InvalidCoordinates, match=r"^Point 2: "):
        locate_many([(22.52, 113.92), (22.53, 113.93), bad])


def test_it_accepts_numeric_strings_and_decimals(town):
    grid = Area.objects.get(code="4403990010010001")
    lat, lon = _centre(grid)
    assert locate(str(lat), f" {lon} ").grid.pk == grid.pk
    assert locate(Decimal(str(lat)), Decimal(str(lon))).grid.pk == grid.pk
    assert locate_many([(str(lat), str(lon))])[0] == locate(lat, lon)


def test_it_agrees_between_locate_many_and_locate(town):
    rng = random.Random(20261125)
    lats, lons = grid_edges(town)
    span_lat, span_lon = lats[-1] - lats[0], lons[-1] - lons[0]
    points = [
        (
            rng.uniform(lats[0] - span_lat / 4, lats[-1] + span_lat / 4),
            rng.uniform(lons[0] - span_lon / 4, lons[-1] + span_lon / 4),
        )
        for _ in range(2000)
    ]
    # And every grid corner and edge midpoint, where ties must break the same way.
    points += [(lat, lon) for lat in lats for lon in lons]
    points += [((a + b) / 2, lon) for a, b in itertools.pairwise(lats) for lon in lons]
    many = locate_many(points)
    assert len(many) == len(points)
    inside = 0
    for point, found in zip(points, many, strict=True):
        try:
            expected: Location | None = locate(*point)
        except OutsideDistrict:
            expected = None
        assert found == expected, point
        inside += expected is not None
    assert 0 < inside < len(points)


def test_it_returns_nothing_for_no_points(db):
    assert locate_many([]) == []


def test_it_sees_an_added_grid_at_once(town):
    lats, lons = grid_edges(town)
    outside = (lats[0] - 0.0005, lons[0] + 0.0005)
    assert locate_many([outside]) == [None]
    community = Area.objects.get(code="440399001001")
    # Grow the community and add a grid south of the town.
    from yunbao.geo.actions import ChildSpec, bulk_create_children

    bulk_create_children(
        community,
        [ChildSpec("NEW1", "新网格", box_geojson(lats[0] - 0.001, lons[0], lats[0], lons[1]))],
    )
    assert locate(*outside).grid.code == "NEW1"


def test_it_sees_a_moved_grid_at_once(town):
    grid = Area.objects.get(code="4403990010010001")
    old_centre = _centre(grid)
    assert locate(*old_centre).grid.pk == grid.pk
    update_area(grid, geometry=box_geojson(22.70, 113.70, 22.71, 113.71))
    assert locate(22.705, 113.705).grid.pk == grid.pk
    with pytest.raises(OutsideDistrict):
        locate(*old_centre)


def test_it_notices_changes_made_by_another_process(town, settings):
    grid = Area.objects.get(code="4403990010010001")
    locate(*_centre(grid))  # build the index
    # Another process moves the grid: this process's actions never hear of it.
    Area.objects.filter(pk=grid.pk).update(
        geometry=box_geojson(22.70, 113.70, 22.71, 113.71), updated_at=timezone.now()
    )
    settings.YUNBAO_GEO_CACHE_SECONDS = 3600
    assert locate(*_centre(grid)).grid.pk == grid.pk  # still the cached index
    settings.YUNBAO_GEO_CACHE_SECONDS = 0
    assert locate(22.705, 113.705).grid.pk == grid.pk
    with pytest.raises(OutsideDistrict):
        locate(*_centre(grid))


def test_it_computes_the_h3_cell_at_the_configured_resolution(settings):
    # Reference pair from h3-py's own test suite (uber/h3-py, tests for the basic_str API,
    # `test1`): this San Francisco point is in cell 8928308280fffff at resolution 9.
    settings.YUNBAO_H3_RESOLUTION = 9
    assert h3_cell(37.7752702151959, -122.418307270836) == "8928308280fffff"
    settings.YUNBAO_H3_RESOLUTION = 10
    cell = h3_cell("22.52", "113.92")
    assert h3.get_resolution(cell) == 10
    assert h3.is_valid_cell(cell)
    lat, lon = h3.cell_to_latlng(cell)
    assert abs(lat - 22.52) < 0.001
    assert abs(lon - 113.92) < 0.001
