"""The history generator: legal timelines, consistent deadlines and flags, open orders at the
end, aggregates equal to a recomputation; and a tiny run of the benchmark (no timing)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command

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
