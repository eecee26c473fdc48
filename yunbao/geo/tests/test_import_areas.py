"""Tests of `yunbao import-areas`: good files, every kind of bad feature, all-or-nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from yunbao.geo import actions
from yunbao.geo.actions import GeoError
from yunbao.geo.locate import locate
from yunbao.geo.models import Area
from yunbao.geo.synthetic import box_geojson

pytestmark = pytest.mark.django_db

BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[113.1, 22.1], [113.2, 22.2], [113.2, 22.1], [113.1, 22.2], [113.1, 22.1]]],
}


def feature(level: str, code: Any, name: str, geometry: Any, parent: Any = None, **extra: Any):
    props = {"level": level, "code": code, "name": name, **extra}
    if parent is not None:
        props["parent"] = parent
    return {"type": "Feature", "properties": props, "geometry": geometry}


def good_features() -> list[dict[str, Any]]:
    """A district → street → community → 2 grids, children listed before parents."""
    return [
        feature("grid", "G2", "二号网格", box_geojson(22.1, 113.15, 22.15, 113.2), "C1"),
        feature("grid", "G1", "一号网格", box_geojson(22.1, 113.1, 22.15, 113.15), "C1"),
        feature("community", "C1", "社区", box_geojson(22.1, 113.1, 22.15, 113.2), "S1"),
        feature("street", "S1", "街道", box_geojson(22.1, 113.1, 22.2, 113.2), "D1"),
        feature(
            "district",
            "D1",
            "云报区",
            box_geojson(22.0, 113.0, 23.0, 114.0),
            name_en="Yunbao District",
            jurisdiction_id="demo.yunbao.org",
        ),
    ]


def write(tmp_path: Path, features: Any, name: str = "areas.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def run(path: Path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with translation.override("en"):
        call_command("import_areas", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path: Path) -> tuple[str, str]:
    err = StringIO()
    with translation.override("en"), pytest.raises(CommandError) as caught:
        call_command("import_areas", str(path), stdout=StringIO(), stderr=err)
    return str(caught.value), err.getvalue()


def test_it_imports_a_good_file_in_any_order(tmp_path):
    out, err = run(write(tmp_path, good_features()))
    assert err == ""
    assert "5 created, 0 updated, 0 unchanged" in out
    district = Area.objects.get(code="D1")
    grid = Area.objects.get(code="G1")
    assert (district.name_en, district.jurisdiction_id) == ("Yunbao District", "demo.yunbao.org")
    assert [a.code for a in grid.ancestors()] == ["D1", "S1", "C1", "G1"]
    assert grid.min_lon == pytest.approx(113.1)
    location = locate(22.12, 113.12)
    assert location.grid.code == "G1"
    assert location.district is not None
    assert location.district.code == "D1"


def test_it_is_idempotent_and_updates_what_changed(tmp_path):
    features = good_features()
    run(write(tmp_path, features))
    stamps = dict(Area.objects.values_list("code", "updated_at"))
    out, _ = run(write(tmp_path, features))
    assert "0 created, 0 updated, 5 unchanged" in out
    assert dict(Area.objects.values_list("code", "updated_at")) == stamps
    features[0]["properties"]["name"] = "改名网格"
    features[0]["geometry"] = box_geojson(22.1, 113.15, 22.14, 113.2)
    out, _ = run(write(tmp_path, features))
    assert "0 created, 1 updated, 4 unchanged" in out
    g2 = Area.objects.get(code="G2")
    assert (g2.name, g2.max_lat) == ("改名网格", pytest.approx(22.14))
    assert Area.objects.count() == 5


def test_it_attaches_to_parents_already_in_the_database(tmp_path):
    features = good_features()
    run(write(tmp_path, features[2:]))  # district, street, community
    out, _ = run(write(tmp_path, features[:2], "grids.geojson"))
    assert "2 created" in out
    assert Area.objects.get(code="G1").parent == Area.objects.get(code="C1")


def test_it_accepts_numeric_codes(tmp_path):
    features = [
        feature("district", 440399, "区", box_geojson(22.0, 113.0, 23.0, 114.0)),
        feature("street", 440399001, "街", box_geojson(22.1, 113.1, 22.2, 113.2), 440399),
    ]
    run(write(tmp_path, features))
    assert Area.objects.get(code="440399001").parent.code == "440399"  # type: ignore[union-attr]


def _replace(index: int, **changes: Any) -> list[dict[str, Any]]:
    features = good_features()
    props = features[index]["properties"]
    for key, value in changes.items():
        if key == "geometry":
            features[index]["geometry"] = value
        elif value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return features


BAD_FILES = {
    "invalid geometry": (_replace(0, geometry=BOWTIE), 0, "G2", "Self-intersection"),
    "not a polygon": (
        _replace(0, geometry={"type": "Point", "coordinates": [113.1, 22.1]}),
        0,
        "G2",
        "Polygon or MultiPolygon",
    ),
    "out of range": (
        _replace(0, geometry=box_geojson(22.1, 213.15, 22.15, 213.2)),
        0,
        "G2",
        "outside longitude",
    ),
    "unknown level": (_replace(1, level="village"), 1, "G1", "Unknown level 'village'"),
    "missing parent": (_replace(1, parent=None), 1, "G1", "parent (code of the community"),
    "unknown parent": (_replace(1, parent="C404"), 1, "G1", "Unknown parent C404"),
    "wrong parent level": (_replace(1, parent="S1"), 1, "G1", "parent S1 is of level street"),
    "district with parent": (_replace(4, parent="S1"), 4, "D1", "district has no parent"),
    "duplicate code": (_replace(0, code="G1"), 1, "G1", "duplicate of feature 0"),
    "missing code": (_replace(0, code=None), 0, "?", "code is missing"),
    "missing name": (_replace(0, name=""), 0, "G2", "name is missing"),
    "overlapping sibling": (
        _replace(0, geometry=box_geojson(22.1, 113.14, 22.15, 113.2)),
        1,
        "G1",
        "overlaps G2 (grid)",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_it_reports_each_bad_feature_and_imports_nothing(tmp_path, kind):
    features, index, code, reason = BAD_FILES[kind]
    message, err = run_failing(write(tmp_path, features))
    assert "nothing was imported" in message
    assert f"feature {index} (code {code}):" in err
    assert reason in err
    assert Area.objects.count() == 0


def test_it_reports_every_problem_at_once(tmp_path):
    features = good_features()
    features[0]["geometry"] = BOWTIE
    features[1]["properties"]["level"] = "village"
    features.append({"type": "Feature", "properties": None, "geometry": None})
    message, err = run_failing(write(tmp_path, features))
    assert "3 problem(s)" in message
    assert "feature 0 (code G2)" in err
    assert "feature 1 (code G1)" in err
    assert "feature 5 (code ?): The feature has no properties." in err


def test_it_refuses_an_overlap_with_an_area_in_the_database(tmp_path):
    run(write(tmp_path, good_features()))
    intruder = feature("grid", "G3", "三号网格", box_geojson(22.1, 113.12, 22.15, 113.14), "C1")
    _, err = run_failing(write(tmp_path, [intruder], "more.geojson"))
    assert "feature 0 (code G3): It overlaps G1 (grid)" in err
    assert not Area.objects.filter(code="G3").exists()


def test_it_ignores_neighbours_that_only_touch(tmp_path):
    run(write(tmp_path, good_features()))
    neighbour = feature("grid", "G3", "三号网格", box_geojson(22.15, 113.1, 22.2, 113.15), "C1")
    out, _ = run(write(tmp_path, [neighbour], "more.geojson"))
    assert "1 created" in out


def test_it_refuses_to_change_the_level_of_an_existing_code(tmp_path):
    run(write(tmp_path, good_features()))
    features = good_features()
    features[2]["properties"]["level"] = "street"  # C1 was a community
    features[2]["properties"]["parent"] = "D1"
    _, err = run_failing(write(tmp_path, features))
    assert "already exists at level community" in err


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"type": "FeatureCollection", "features": [', "not valid JSON"),
        ("[1, 2, 3]", "not a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection"}', "no feature list"),
    ],
)
def test_it_refuses_a_malformed_file(tmp_path, content, reason):
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    message, err = run_failing(path)
    assert reason in message + err
    assert Area.objects.count() == 0


def test_it_refuses_a_missing_file(tmp_path):
    message, _ = run_failing(tmp_path / "nowhere.geojson")
    assert "Cannot read" in message


def test_it_rolls_back_everything_when_a_write_fails(tmp_path, monkeypatch):
    # The check passed, but the database refuses half-way (say, another import won a race).
    def refuse(*args: Any, **kwargs: Any) -> list[Area]:
        raise GeoError("simulated failure")

    monkeypatch.setattr(actions, "bulk_create_children", refuse)
    message, _ = run_failing(write(tmp_path, good_features()))
    assert "simulated failure" in message
    assert Area.objects.count() == 0
