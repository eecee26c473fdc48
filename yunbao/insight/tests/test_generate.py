"""The history generator: legal timelines, consistent deadlines and flags, open orders at the
end, aggregates equal to a recomputation; and a tiny run of the benchmark (no timing)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from yunbao.insight.generate import generate
from yunbao.insight.store import recompute
from yunbao.insight.tests.helpers import aggregates
from yunbao.testing import World
from yunbao.workorders.models import Status, TimelineEntry, WorkOrder
from yunbao.workorders.transitions import TRANSITIONS

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 30, 12, tzinfo=dt.UTC)


def test_it_generates_legal_history_and_its_aggregates(world: World) -> None:
    figures = generate(400, seed=3, days=30, now=NOW, batch=150, progress=lambda _m: None)
    assert figures["orders"] == WorkOrder.objects.count() == 400
    statuses = figures["statuses"]
    assert {Status.CLOSED, Status.REJECTED, Status.MERGED} <= set(statuses)
    assert statuses[Status.CLOSED] > 250
    # Every timeline replays legally and its on-time flags match the deadlines kept.
    for order in WorkOrder.objects.all()[:200]:
        rows = list(order.timeline.order_by("at", "id"))
        assert rows[0].action == "submit"
        state = ""
        for row in rows:
            assert row.from_status == state
            if row.action != "submit":
                t = TRANSITIONS[row.action]
                assert row.from_status in t.sources, row.action
            state = row.to_status
        assert state == order.status
        assert order.rework_count == sum(r.action == "rework" for r in rows)
        assert all(r.at <= NOW for r in rows)
    assert TimelineEntry.objects.filter(action="rework").exists()
    assert TimelineEntry.objects.filter(action="suspend").exists()
    assert TimelineEntry.objects.filter(on_time=False).exists()
    assert WorkOrder.objects.exclude(rating=None).exists()
    kept = aggregates()
    recompute()
    assert aggregates() == kept


def test_the_command_generates_with_a_seed(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("generate_orders", "--count", "30", "--seed", "5", "--days", "10")
    assert WorkOrder.objects.count() == 30
    assert "generated 30/30 orders" in capsys.readouterr().out


@pytest.mark.django_db
def test_it_runs_the_insight_benchmark_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.insight import run

    figures = run(smoke=True)
    assert figures["orders"] == 300
    assert figures["agree"] is True
    assert set(figures["dashboard_ms"]) == {"district", "street", "unit", "category"}
    assert "aggregates and scan agree: True" in capsys.readouterr().out


def test_it_sums_the_aggregates_over_several_flushes_and_merges(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yunbao.insight import generate as module

    # Tiny thresholds: the aggregates are written and (PostgreSQL) merged many times.
    monkeypatch.setattr(module, "FLUSH_AT", 500)
    monkeypatch.setattr(module, "MERGE_AT", 1200)
    generate(300, seed=4, days=20, now=NOW, batch=40, progress=lambda _m: None)
    kept = aggregates()
    recompute()
    assert aggregates() == kept


def _schema(tables: tuple[str, ...]) -> dict[str, Any]:

    with connection.cursor() as cursor:
        return {t: connection.introspection.get_constraints(cursor, t) for t in tables}


TABLES = (
    "workorders_workorder", "workorders_timelineentry", "insight_cell", "insight_durationcell",
)  # fmt: skip


@pytest.mark.skipif("not connection.vendor == 'postgresql'")
def test_a_big_run_builds_the_indexes_and_keys_it_set_aside(world: World) -> None:
    before = _schema(TABLES)
    figures = generate(
        200, seed=6, days=15, now=NOW, batch=70, set_aside_indexes=True, progress=lambda _m: None
    )
    assert figures["set_aside_indexes"] is True
    assert _schema(TABLES) == before
    assert WorkOrder.objects.count() == 200
    kept = aggregates()
    recompute()
    assert aggregates() == kept


@pytest.mark.skipif("not connection.vendor == 'postgresql'")
def test_a_failed_big_run_leaves_the_indexes_and_no_rows(world: World) -> None:
    before = _schema(TABLES)
    orders = WorkOrder.objects.count()

    def fail(message: str) -> None:
        if message.startswith("generated"):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        generate(200, seed=6, days=15, now=NOW, batch=70, set_aside_indexes=True, progress=fail)
    assert _schema(TABLES) == before
    assert WorkOrder.objects.count() == orders


def test_copy_text_escapes_and_converts() -> None:
    from yunbao.insight.loading import line

    moment = dt.datetime(2025, 6, 30, 12, 0, 1, 5, tzinfo=dt.UTC)
    assert line([1, 2.5, "a\tb\\c\nd", None, True, False, moment, Status.CLOSED, {"k": "é"}]) == (
        '1\t2.5\ta\\tb\\\\c\\nd\t\\N\tt\tf\t2025-06-30 12:00:01.000005+00:00\tclosed\t{"k": "é"}\n'
    )
