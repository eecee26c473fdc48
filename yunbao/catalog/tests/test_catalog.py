"""The shipped catalogue, its loader and the `load-catalog` command."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.models import Count
from django.utils import translation

from yunbao.catalog.limits import DEFAULT_LIMITS
from yunbao.catalog.loader import CatalogError, load_catalog, parse_catalog, read_catalog
from yunbao.catalog.models import Category, Kind, Scene, Stage, TimeLimit, TimeUnit, Urgency

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple[Any, ...]]:
    """Everything the loader writes, in a comparable form."""
    rows: list[tuple[Any, ...]] = list(Scene.objects.values_list("code", "name", "name_en", "sort"))
    for category in Category.objects.prefetch_related("scenes", "time_limits").order_by("code"):
        rows.append(
            (
                category.code,
                category.name,
                category.name_en,
                category.keywords,
                category.default_urgency,
                category.icon,
                category.sort,
                category.active,
                tuple(sorted(s.code for s in category.scenes.all())),
                tuple(
                    sorted(
                        (t.stage, t.urgency, t.amount, t.unit) for t in category.time_limits.all()
                    )
                ),
            )
        )
    return rows


def test_it_ships_at_least_40_events_in_the_two_scenes() -> None:
    events = Category.objects.filter(kind=Kind.EVENT)
    assert events.count() >= 40
    scenes = {scene.code: scene for scene in Scene.objects.all()}
    assert scenes["sanitation"].name == "环卫保洁"
    assert scenes["sanitation"].name_en == "Sanitation cleaning"
    assert scenes["inspection"].name == "综合巡查"
    assert scenes["inspection"].name_en == "Comprehensive inspection"
    # Every event belongs to one of the pilot's scenes, and both scenes have events.
    assert not events.filter(scenes__isnull=True).exists()
    assert events.filter(scenes__code="sanitation").count() >= 10
    assert events.filter(scenes__code="inspection").count() >= 30
    # The standard's five event major classes and the extension events are all there.
    assert set(events.values_list("major_code", flat=True)) >= {"01", "02", "03", "04", "05", "06"}


def test_it_ships_the_common_components() -> None:
    components = Category.objects.filter(kind=Kind.COMPONENT)
    assert components.count() >= 20
    codes = set(components.values_list("code", flat=True))
    expected = {f"C01{n:02d}" for n in range(1, 15)} | {
        "C0118", "C0201", "C0203", "C0205", "C0209", "C0211", "C0213", "C0214",
        "C0301", "C0304", "C0305", "C0307", "C0401", "C0402", "C0405", "C0501",
    }  # fmt: skip
    assert expected <= codes
    litter_bin = Category.objects.get(code="C0305")
    assert (litter_bin.name, litter_bin.name_en) == ("果皮箱", "Litter bin")
    assert "sanitation" in {s.code for s in litter_bin.scenes.all()}


def test_it_fills_every_column_a_report_needs() -> None:
    for category in Category.objects.all():
        prefix = "E" if category.kind == Kind.EVENT else "C"
        assert category.code == f"{prefix}{category.major_code}{category.minor_code}"
        assert category.name
        assert category.name_en
        assert category.major_name
        assert category.major_name_en
        assert category.icon.isascii()
        assert category.icon
        assert len(category.keyword_list) >= 3, category.code
        # Chinese and English words, for a classifier that reads either.
        assert any(not k.isascii() for k in category.keyword_list), category.code
        assert any(k.isascii() for k in category.keyword_list), category.code


def test_it_gives_every_category_all_eight_time_limits() -> None:
    counts = Category.objects.annotate(n=Count("time_limits")).values_list("code", "n")
    assert counts
    assert {code: n for code, n in counts if n != 8} == {}


def test_it_marks_emergencies_urgent() -> None:
    urgent = set(
        Category.objects.filter(default_urgency=Urgency.URGENT).values_list("code", flat=True)
    )
    # Road collapse, burst water main, gas pipe break, a missing manhole cover.
    assert {"E0401", "E0402", "E0403", "C0101", "C0114"} <= urgent
    assert "E0102" not in urgent


def test_it_uses_realistic_handling_limits() -> None:
    def handle(code: str, urgency: str) -> tuple[Decimal, str]:
        limit = TimeLimit.objects.get(category__code=code, stage=Stage.HANDLE, urgency=urgency)
        return limit.amount, limit.unit

    assert handle("C0118", Urgency.NORMAL) == (1, TimeUnit.WORKING_DAYS)  # street lights out
    assert handle("E0510", Urgency.NORMAL) == (2, TimeUnit.NATURAL_HOURS)  # open-air barbecue
    assert handle("C0114", Urgency.URGENT) == (2, TimeUnit.NATURAL_HOURS)  # missing cover
    assert handle("E0102", Urgency.NORMAL) == (4, TimeUnit.WORKING_HOURS)  # garbage
    accept = TimeLimit.objects.get(category__code="E0102", stage=Stage.ACCEPT, urgency="urgent")
    assert (accept.amount, accept.unit) == (Decimal("0.17"), TimeUnit.NATURAL_HOURS)


def test_it_keeps_the_shipped_defaults_equal_to_the_fallback() -> None:
    spec = parse_catalog(read_catalog())
    defaults = read_catalog()["default_limits"]
    for stage, by_urgency in DEFAULT_LIMITS.items():
        for urgency, (amount, unit) in by_urgency.items():
            assert (Decimal(defaults[stage][urgency][0]), defaults[stage][urgency][1]) == (
                amount,
                unit,
            )
    assert len(spec.categories) == Category.objects.exclude(code__startswith="E99").count()


def test_it_changes_nothing_when_loaded_twice() -> None:
    before = snapshot()
    first = load_catalog()
    second = load_catalog()
    assert not first.changed
    assert not second.changed
    assert second.categories.unchanged == Category.objects.count()
    assert second.limits.unchanged == 8 * Category.objects.count()
    assert snapshot() == before


def test_it_restores_edited_rows_but_keeps_a_category_switched_off() -> None:
    barbecue = Category.objects.get(code="E0510")
    barbecue.name_en = "Grill"
    barbecue.active = False
    barbecue.save()
    barbecue.scenes.clear()
    TimeLimit.objects.filter(category=barbecue, stage=Stage.HANDLE).update(amount=9)
    TimeLimit.objects.filter(category=barbecue, stage=Stage.CHECK, urgency="urgent").delete()

    summary = load_catalog()

    assert summary.categories.updated == 1
    assert (summary.limits.updated, summary.limits.created) == (2, 1)
    barbecue.refresh_from_db()
    assert barbecue.name_en == "Open-air barbecue"
    assert barbecue.active is False
    assert [s.code for s in barbecue.scenes.all()] == ["inspection"]
    assert barbecue.time_limits.count() == 8


def test_it_loads_with_the_historical_models_of_a_migration() -> None:
    state = MigrationLoader(connection).project_state(("catalog", "0002_load_catalog"))
    summary = load_catalog(
        scene_model=state.apps.get_model("catalog", "Scene"),
        category_model=state.apps.get_model("catalog", "Category"),
        limit_model=state.apps.get_model("catalog", "TimeLimit"),
    )
    assert not summary.changed
    assert summary.categories.unchanged >= 60


def small_document() -> dict[str, Any]:
    return {
        "scenes": [{"code": "trial", "name": "试点", "name_en": "Trial"}],
        "default_limits": {
            stage: {"normal": [1, "working_days"], "urgent": [2, "natural_hours"]}
            for stage in Stage.values
        },
        "events": [
            {
                "major": "06",
                "name": "扩展事件",
                "name_en": "Extension events",
                "categories": [
                    {
                        "code": "E0698",
                        "name": "测试事件",
                        "name_en": "Trial event",
                        "scenes": ["trial"],
                        "urgency": "urgent",
                        "icon": "trial",
                        "keywords": ["测试", "trial"],
                        "limits": {"handle": {"urgent": [Decimal("0.25"), "natural_hours"]}},
                    }
                ],
            }
        ],
    }


def test_it_loads_a_custom_document_merging_the_defaults() -> None:
    summary = load_catalog(small_document())
    assert (summary.scenes.created, summary.categories.created, summary.limits.created) == (1, 1, 8)
    category = Category.objects.get(code="E0698")
    assert (category.kind, category.major_code, category.minor_code) == (Kind.EVENT, "06", "98")
    assert category.major_name == "扩展事件"
    assert category.keyword_list == ["测试", "trial"]
    assert [s.code for s in category.scenes.all()] == ["trial"]
    limits = {(t.stage, t.urgency): (t.amount, t.unit) for t in category.time_limits.all()}
    assert limits[("handle", "urgent")] == (Decimal("0.25"), "natural_hours")
    assert limits[("accept", "normal")] == (1, "working_days")


def with_change(path: str, value: Any) -> dict[str, Any]:
    """small_document() with the item at a dotted `path` replaced (or removed if value is ...)."""
    document = copy.deepcopy(small_document())
    *parents, last = path.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is ...:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return document


CATEGORY = "events.0.categories.0"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (f"{CATEGORY}.limits", {"repair": {"normal": [1, "working_days"]}}, "unknown stage"),
        (f"{CATEGORY}.limits", {"handle": {"normal": [1, "fortnights"]}}, "unknown time unit"),
        (f"{CATEGORY}.limits", {"handle": {"soon": [1, "working_days"]}}, "unknown urgency"),
        (f"{CATEGORY}.limits", {"handle": {"normal": [0, "working_days"]}}, "must be positive"),
        (f"{CATEGORY}.limits", {"handle": {"normal": [-2, "natural_hours"]}}, "must be positive"),
        (f"{CATEGORY}.limits", {"handle": {"normal": ["0.125", "natural_hours"]}}, "two decimals"),
        (f"{CATEGORY}.limits", {"handle": {"normal": 4}}, "must be [amount, unit]"),
        (f"{CATEGORY}.urgency", "critical", "unknown urgency 'critical'"),
        (f"{CATEGORY}.scenes", ["trial", "street"], "unknown scene 'street'"),
        (f"{CATEGORY}.scenes", [], "scenes must be a non-empty list"),
        (f"{CATEGORY}.name", "", "name is missing"),
        (f"{CATEGORY}.icon", "垃圾", "icon"),
        ("default_limits", ..., "no time limit for accept/normal"),
    ],
)
def test_it_rejects_bad_data_naming_the_category(path: str, value: Any, message: str) -> None:
    before = Category.objects.count()
    with pytest.raises(CatalogError) as caught:
        load_catalog(with_change(path, value))
    assert "E0698" in str(caught.value)
    assert message in str(caught.value)
    assert Category.objects.count() == before
    assert not Scene.objects.filter(code="trial").exists()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (f"{CATEGORY}.code", "C0698", "must start with E06"),
        (f"{CATEGORY}.code", "E0798", "must start with E06"),
        (f"{CATEGORY}.code", "E698", "is not like E0601"),
        ("default_limits.handle", {"normal": [1, "hours"]}, "default_limits: handle/normal"),
        ("scenes", [], "scenes: must be a non-empty list"),
        ("scenes.0.code", "Trial Scene", "lowercase slug"),
    ],
)
def test_it_rejects_bad_codes_and_defaults(path: str, value: Any, message: str) -> None:
    with pytest.raises(CatalogError, match="invalid catalogue") as caught:
        load_catalog(with_change(path, value))
    assert message in str(caught.value)


def test_it_rejects_a_code_listed_twice() -> None:
    document = small_document()
    categories = document["events"][0]["categories"]
    categories.append(copy.deepcopy(categories[0]))
    with pytest.raises(CatalogError, match="E0698: listed twice"):
        load_catalog(document)


def test_it_reports_every_problem_at_once() -> None:
    document = with_change(f"{CATEGORY}.urgency", "critical")
    document["events"][0]["categories"][0]["scenes"] = ["nowhere"]
    with pytest.raises(CatalogError) as caught:
        load_catalog(document)
    assert len(caught.value.problems) == 2


def test_the_command_prints_a_summary() -> None:
    out = StringIO()
    with translation.override("en"):
        call_command("load_catalog", stdout=out)
    assert "categories: 0 created, 0 updated" in out.getvalue()
    assert "already up to date" in out.getvalue()


def test_the_command_loads_a_file(tmp_path: Any) -> None:
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(small_document(), default=str), encoding="utf-8")
    out = StringIO()
    with translation.override("en"):
        call_command("load_catalog", str(path), stdout=out)
    assert "categories: 1 created" in out.getvalue()
    assert Category.objects.filter(code="E0698").exists()


def test_the_command_explains_a_bad_file(tmp_path: Any) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(with_change(f"{CATEGORY}.urgency", "critical"), default=str))
    with pytest.raises(CommandError, match="E0698: unknown urgency 'critical'"):
        call_command("load_catalog", str(path))
    with translation.override("en"), pytest.raises(CommandError, match="cannot read"):
        call_command("load_catalog", str(tmp_path / "missing.json"))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CommandError):
        call_command("load_catalog", str(tmp_path / "broken.json"))
