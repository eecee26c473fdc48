"""The roll-ups: every one sums to the grid rows, each query reads the coarsest one that can
answer it, and what it answers equals the scan of the orders and the grid rows; the bulk
paths (COPY into a scratch table, the migration that filled the roll-ups) write the same
rows as the plain ones."""

from __future__ import annotations

import datetime as dt
import importlib
from collections import Counter
from typing import Any

import pytest
from django.apps import apps
from django.db.models import Sum

from yunbao.geo.models import Area, Level
from yunbao.insight import indicators, store
from yunbao.insight.drilldown import scan
from yunbao.insight.generate import generate
from yunbao.insight.indicators import Filter
from yunbao.insight.models import MEASURES, Cell, DurationCell, Grain
from yunbao.insight.store import CUBES, cube_for, recompute
from yunbao.insight.tests.helpers import aggregates
from yunbao.testing import World
from yunbao.workorders.models import Source, WorkOrder

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 30, 12, tzinfo=dt.UTC)
START, END = dt.date(2025, 6, 1), dt.date(2025, 6, 30)


@pytest.fixture
def history(world: World) -> World:
    generate(500, seed=11, days=40, now=NOW, batch=200, progress=lambda _m: None)
    return world


def _totals(model: Any, grain: int, fields: tuple[str, ...]) -> dict[str, int]:
    sums = model.objects.filter(grain=grain).aggregate(**{f: Sum(f) for f in fields})
    return {f: int(sums[f] or 0) for f in fields}


def test_every_rollup_sums_to_the_grid_rows(history: World) -> None:
    grid_cells = _totals(Cell, Grain.GRID, MEASURES)
    grid_durations = Counter(
        {
            (stage, bucket): n
            for stage, bucket, n in DurationCell.objects.filter(grain=Grain.GRID)
            .values_list("stage", "bucket")
            .annotate(n=Sum("n"))
        }
    )
    assert grid_cells["reports"] == WorkOrder.objects.count() == 500
    for cube in CUBES:
        assert _totals(Cell, cube.grain, MEASURES) == grid_cells, cube
        if not cube.durations:
            assert not DurationCell.objects.filter(grain=cube.grain).exists()
            continue
        durations = Counter(
            {
                (stage, bucket): n
                for stage, bucket, n in DurationCell.objects.filter(grain=cube.grain)
                .values_list("stage", "bucket")
                .annotate(n=Sum("n"))
            }
        )
        assert durations == grid_durations, cube
    # The coarse roll-ups are what make the dashboard fast: far fewer rows than the grid's.
    grid_rows = Cell.objects.filter(grain=Grain.GRID).count()
    assert Cell.objects.filter(grain=Grain.DISTRICT).count() * 5 < grid_rows
    # A roll-up that drops a dimension stores its empty value.
    street_unit_source = Cell.objects.filter(grain=Grain.STREET_UNIT_SOURCE)
    assert set(street_unit_source.values_list("category", flat=True)) == {0}
    assert set(Cell.objects.filter(grain=Grain.DISTRICT).values_list("source", flat=True)) == {""}


def test_each_query_reads_the_coarsest_rollup_that_answers(history: World) -> None:
    district = Area.objects.get(level=Level.DISTRICT)
    street = Area.objects.filter(level=Level.STREET).first()
    village = Area.objects.filter(level=Level.COMMUNITY).first()
    grid = Area.objects.filter(level=Level.GRID).first()
    category = WorkOrder.objects.values_list("category_id", flat=True).first()
    cases = [
        (Filter.of(area=district), None, Grain.DISTRICT),
        (Filter(), None, Grain.DISTRICT),
        (Filter.of(area=district), "unit", Grain.STREET_UNIT_SOURCE),
        (Filter.of(area=district), "area", Grain.VILLAGE_UNIT_SOURCE),
        (Filter.of(area=street), None, Grain.STREET_UNIT_SOURCE),
        (Filter.of(area=village), None, Grain.VILLAGE_UNIT_SOURCE),
        (Filter.of(area=grid), None, Grain.GRID),
        (Filter(source=Source.RESIDENT), None, Grain.STREET_UNIT_SOURCE),
        (Filter(category=category), None, Grain.STREET),
        (Filter(category=category), "unit", Grain.STREET),
        (Filter(category=category), "area", Grain.GRID),
        (Filter.of(area=village, category=category), None, Grain.GRID),
    ]
    for f, by, grain in cases:
        assert f.grain(by) == grain, (f, by)
    assert cube_for(Level.GRID, ()).grain == Grain.GRID
    # Durations have no village roll-up: a village reads its grids' rows.
    assert Filter.of(area=village).grain(durations=True) == Grain.GRID
    assert Filter.of(area=street).grain(durations=True) == Grain.STREET_UNIT_SOURCE


def _filters() -> list[Filter]:
    """The period alone and with each level's first areas, every unit, a few categories,
    sources, and combinations."""
    period: dict[str, Any] = {"start": START, "end": END}
    filters = [Filter(**period), Filter()]
    for level in Level.values:
        for area in Area.objects.filter(level=level).order_by("path")[:2]:
            filters.append(Filter.of(area=area, **period))
    orders = WorkOrder.objects.order_by()
    for unit in orders.exclude(unit=None).values_list("unit_id", flat=True).distinct():
        filters.append(Filter(unit=unit, **period))
    for category in orders.values_list("category_id", flat=True).distinct()[:3]:
        filters.append(Filter(category=category, **period))
    street = Area.objects.filter(level=Level.STREET).first()
    filters += [
        Filter(source=Source.INSPECTOR, **period),
        Filter.of(area=street, source=Source.RESIDENT, **period),
        Filter.of(area=street, category=filters[-1].category, source=Source.RESIDENT),
    ]
    return filters


def _grid_grouped(f: Filter, column: str) -> dict[Any, dict[str, int]]:
    rows = (
        Cell.objects.filter(f.q(Grain.GRID))
        .values(column)
        .annotate(**{f"s_{m}": Sum(m) for m in MEASURES})
    )
    return {r[column]: {m: int(r[f"s_{m}"] or 0) for m in MEASURES} for r in rows}


def test_what_each_rollup_answers_equals_the_scan_and_the_grid_rows(history: World) -> None:
    for f in _filters():
        board = indicators.dashboard(f)
        counts, durations = scan(f)
        assert board.report.counts == counts, f
        assert board.report.durations == durations, f
        units = {r.key: r.report.counts for r in board.units}
        assert units == {k: v for k, v in _grid_grouped(f, "unit").items() if k}, f
        villages: dict[str, dict[str, int]] = {}
        for area, c in _grid_grouped(f, "area").items():
            into = villages.setdefault(store.village_of(area), dict.fromkeys(MEASURES, 0))
            for m in MEASURES:
                into[m] += c[m]
        assert {r.key: r.report.counts for r in board.villages} == villages, f


def test_the_copy_path_writes_what_the_row_by_row_upserts_write(
    history: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = aggregates()
    # Every flush through the scratch table (PostgreSQL); SQLite keeps its executemany.
    monkeypatch.setattr(store, "_COPY_FROM", 1)
    recompute()
    assert aggregates() == kept
    # Twice over the same rows: the scratch table is emptied between flushes.
    recompute()
    assert aggregates() == kept


def test_the_migration_fills_the_rollups_from_the_grid_rows(history: World) -> None:
    kept = aggregates()
    for model in (Cell, DurationCell):
        model.objects.exclude(grain=Grain.GRID).delete()
    migration = importlib.import_module("yunbao.insight.migrations.0003_rollups")
    migration.fill(apps, None)
    assert aggregates() == kept
