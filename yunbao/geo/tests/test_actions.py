"""Tests of the area actions: validation, derived fields, paths, moves, bulk creation."""

from __future__ import annotations

import math

import pytest
from django.utils import translation
from shapely.geometry import Point, box

from yunbao.geo.actions import (
    ChildSpec,
    GeoError,
    bulk_create_children,
    create_area,
    delete_area,
    update_area,
)
from yunbao.geo.locate import OutsideDistrict, locate
from yunbao.geo.models import Area, Level
from yunbao.geo.synthetic import box_geojson

pytestmark = pytest.mark.django_db

BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def _district(code: str = "D1") -> Area:
    return create_area(
        level=Level.DISTRICT, code=code, name="区", geometry=box_geojson(22.0, 113.0, 23.0, 114.0)
    )


def test_it_creates_a_district_with_path_bbox_and_centre():
    district = create_area(
        level=Level.DISTRICT,
        code=" D1 ",
        name="云报区",
        name_en="Yunbao District",
        jurisdiction_id="demo.yunbao.org",
        geometry=box_geojson(22.0, 113.0, 23.0, 114.5),
    )
    district.refresh_from_db()
    assert district.code == "D1"
    assert district.path == f"/{district.pk}/"
    assert (district.min_lat, district.min_lon, district.max_lat, district.max_lon) == (
        22.0,
        113.0,
        23.0,
        114.5,
    )
    assert 22.0 < district.center_lat < 23.0
    assert 113.0 < district.center_lon < 114.5
    assert district.jurisdiction_id == "demo.yunbao.org"
    assert district.geometry["type"] == "Polygon"


def test_it_accepts_a_shapely_geometry_and_stores_geojson_lists():
    area = create_area(
        level=Level.DISTRICT, code="D1", name="区", geometry=box(113.0, 22.0, 114.0, 23.0)
    )
    area.refresh_from_db()
    ring = area.geometry["coordinates"][0]
    assert isinstance(ring, list)
    assert sorted({tuple(p) for p in ring}) == [(113, 22), (113, 23), (114, 22), (114, 23)]


def test_it_keeps_the_centre_inside_a_concave_area():
    # An L shape whose centroid lies outside it; the stored centre must be inside.
    ell = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [3, 0], [3, 1], [1, 1], [1, 3], [0, 3], [0, 0]]],
    }
    area = create_area(level=Level.DISTRICT, code="L", name="L", geometry=ell)
    assert box(0, 0, 3, 1).union(box(0, 0, 1, 3)).contains(Point(area.center_lon, area.center_lat))


def test_it_gives_children_the_path_of_their_ancestors():
    district = _district()
    street = create_area(
        level=Level.STREET,
        code="S1",
        name="街道",
        parent=district,
        geometry=box_geojson(22.1, 113.1, 22.2, 113.2),
    )
    community = create_area(
        level=Level.COMMUNITY,
        code="C1",
        name="社区",
        parent=street,
        geometry=box_geojson(22.1, 113.1, 22.15, 113.15),
    )
    assert street.path == f"/{district.pk}/{street.pk}/"
    assert community.path == f"/{district.pk}/{street.pk}/{community.pk}/"
    assert community.ancestor_ids() == [district.pk, street.pk, community.pk]
    assert [a.code for a in community.ancestors()] == ["D1", "S1", "C1"]


@pytest.mark.parametrize(
    ("level", "parent_level", "message"),
    [
        (Level.GRID, Level.STREET, "must be of level community"),
        (Level.STREET, None, "needs a parent of level district"),
        (Level.DISTRICT, Level.DISTRICT, "A district has no parent"),
        ("county", None, "Unknown level"),
    ],
)
def test_it_refuses_a_parent_of_the_wrong_level(level, parent_level, message):
    district = _district()
    parents = {Level.DISTRICT: district, None: None}
    if parent_level == Level.STREET:
        parents[Level.STREET] = create_area(
            level=Level.STREET,
            code="S1",
            name="街道",
            parent=district,
            geometry=box_geojson(22.1, 113.1, 22.2, 113.2),
        )
    with translation.override("en"), pytest.raises(GeoError, match=message):
        create_area(
            level=level,
            code="X1",
            name="x",
            parent=parents[parent_level],
            geometry=box_geojson(22.1, 113.1, 22.12, 113.12),
        )
    assert not Area.objects.filter(code="X1").exists()


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (BOWTIE, "not valid: Self-intersection"),
        ({"type": "Point", "coordinates": [113.5, 22.5]}, "Polygon or MultiPolygon, not Point"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        (box_geojson(22.0, 179.0, 23.0, 181.0), "outside longitude"),
        (box_geojson(89.0, 113.0, 91.0, 114.0), "outside longitude"),
        (box_geojson(22.0, 113.0, math.nan, 114.0), "not finite"),
        ({"type": "Polygon", "coordinates": "nonsense"}, "Not a GeoJSON geometry"),
        ({"coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, "Not a GeoJSON geometry"),
        ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "Not a GeoJSON geometry"),
    ],
)
def test_it_refuses_bad_geometries_with_a_clear_message(geometry, message):
    with translation.override("en"), pytest.raises(GeoError, match=message):
        create_area(level=Level.DISTRICT, code="D1", name="区", geometry=geometry)
    assert Area.objects.count() == 0


def test_it_refuses_a_duplicate_code_and_blank_names():
    _district("D1")
    with translation.override("en"), pytest.raises(GeoError, match="already used"):
        _district("D1")
    with translation.override("en"), pytest.raises(GeoError, match="has no name"):
        create_area(level=Level.DISTRICT, code="D2", name="  ", geometry=box(0, 0, 1, 1))
    with translation.override("en"), pytest.raises(GeoError, match="must not be empty"):
        create_area(level=Level.DISTRICT, code="", name="x", geometry=box(0, 0, 1, 1))
    assert Area.objects.count() == 1


def test_it_translates_its_messages():
    with translation.override("zh-hans"), pytest.raises(GeoError) as caught:
        create_area(level=Level.DISTRICT, code="", name="x", geometry=box(0, 0, 1, 1))
    # Whatever the catalogue says, the message is a real, non-empty text.
    assert str(caught.value)


def test_it_updates_the_geometry_and_the_derived_fields():
    district = _district()
    before = district.updated_at
    updated = update_area(
        district, geometry=box_geojson(30.0, 120.0, 31.0, 121.0), name="新区", name_en="New"
    )
    assert updated is district
    district.refresh_from_db()
    assert (district.min_lat, district.max_lon) == (30.0, 121.0)
    assert 30.0 < district.center_lat < 31.0
    assert (district.name, district.name_en) == ("新区", "New")
    assert district.updated_at > before


def test_it_refuses_a_bad_update_and_changes_nothing():
    district = _district()
    _district("D2")
    with pytest.raises(GeoError):
        update_area(district, geometry=BOWTIE)
    with pytest.raises(GeoError):
        update_area(district, code="D2")
    district.refresh_from_db()
    assert district.code == "D1"
    assert district.min_lat == 22.0


def test_it_moves_an_area_with_everything_below_it():
    district = _district()
    s1 = create_area(
        level=Level.STREET, code="S1", name="一", parent=district, geometry=box(113, 22, 113.5, 23)
    )
    s2 = create_area(
        level=Level.STREET, code="S2", name="二", parent=district, geometry=box(113.5, 22, 114, 23)
    )
    community = create_area(
        level=Level.COMMUNITY, code="C1", name="社区", parent=s1, geometry=box(113, 22, 113.1, 22.1)
    )
    bulk_create_children(community, [ChildSpec("G0", "网格", box(113, 22, 113.01, 22.01))])
    update_area(community, parent=s2)
    grid = Area.objects.get(code="G0")
    assert community.path == f"/{district.pk}/{s2.pk}/{community.pk}/"
    assert grid.path == f"/{district.pk}/{s2.pk}/{community.pk}/{grid.pk}/"
    assert s1.children.count() == 0
    with translation.override("en"), pytest.raises(GeoError, match="must be of level street"):
        update_area(community, parent=district)


def test_it_bulk_creates_children_with_paths_and_bboxes():
    district = _district()
    street = create_area(
        level=Level.STREET, code="S1", name="街道", parent=district, geometry=box(113, 22, 114, 23)
    )
    community = create_area(
        level=Level.COMMUNITY, code="C1", name="社区", parent=street, geometry=box(113, 22, 114, 23)
    )
    specs = [
        ChildSpec(f"G{i:03d}", f"网格{i}", box(113 + i / 100, 22, 113 + (i + 1) / 100, 22.01))
        for i in range(50)
    ]
    created = bulk_create_children(community, specs)
    assert len(created) == 50
    assert all(a.level == Level.GRID for a in created)
    stored = Area.objects.get(code="G007")
    assert stored.path == f"{community.path}{stored.pk}/"
    assert stored.path == next(a.path for a in created if a.code == "G007")
    assert stored.min_lon == pytest.approx(113.07)
    assert stored.updated_at is not None


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([ChildSpec("G1", "a", box(0, 0, 1, 1)), ChildSpec("G1", "b", box(1, 0, 2, 1))], "twice"),
        ([ChildSpec("G1", "a", box(0, 0, 1, 1)), ChildSpec("G2", "b", BOWTIE)], "G2: "),
        ([ChildSpec("G1", "a", box(0, 0, 1, 1)), ChildSpec("D1", "b", box(1, 0, 2, 1))], "D1"),
        ([ChildSpec("G1", "", box(0, 0, 1, 1))], "no name"),
    ],
)
def test_it_bulk_creates_nothing_when_one_item_is_bad(specs, message):
    district = _district()
    street = create_area(
        level=Level.STREET, code="S1", name="街道", parent=district, geometry=box(0, 0, 2, 1)
    )
    community = create_area(
        level=Level.COMMUNITY, code="C1", name="社区", parent=street, geometry=box(0, 0, 2, 1)
    )
    with translation.override("en"), pytest.raises(GeoError, match=message):
        bulk_create_children(community, specs)
    assert Area.objects.filter(level=Level.GRID).count() == 0


def test_it_refuses_children_below_a_grid():
    district = _district()
    street = create_area(
        level=Level.STREET, code="S", name="s", parent=district, geometry=box(0, 0, 1, 1)
    )
    community = create_area(
        level=Level.COMMUNITY, code="C", name="c", parent=street, geometry=box(0, 0, 1, 1)
    )
    (grid,) = bulk_create_children(community, [ChildSpec("G", "g", box(0, 0, 1, 1))])
    with pytest.raises(GeoError):
        bulk_create_children(grid, [ChildSpec("X", "x", box(0, 0, 1, 1))])


def test_it_deletes_a_leaf_but_not_an_area_with_children():
    district = _district()
    street = create_area(
        level=Level.STREET, code="S1", name="街道", parent=district, geometry=box(113, 22, 114, 23)
    )
    with translation.override("en"), pytest.raises(GeoError, match="still has areas below"):
        delete_area(district)
    delete_area(street)
    assert list(Area.objects.values_list("code", flat=True)) == ["D1"]


def test_it_makes_locate_see_every_change_at_once(town):
    point = (town.min_lat - 0.0005, town.min_lon + 0.0005)  # just south of the town
    with pytest.raises(OutsideDistrict):
        locate(*point)
    extra_street = create_area(
        level=Level.STREET,
        code="S9",
        name="新街道",
        parent=town.parent,
        geometry=box_geojson(
            town.min_lat - 0.001, town.min_lon, town.min_lat, town.min_lon + 0.001
        ),
    )
    extra_community = create_area(
        level=Level.COMMUNITY,
        code="C9",
        name="新社区",
        parent=extra_street,
        geometry=extra_street.geometry,
    )
    bulk_create_children(extra_community, [ChildSpec("G9", "新网格", extra_street.geometry)])
    assert locate(*point).grid.code == "G9"
