"""A tiny run of the SLA sweep benchmark: it fires alerts once, then nothing (no timing
asserted)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.sla import run


@pytest.mark.django_db
def test_it_runs_the_sla_benchmark_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    figures: dict[str, Any] = run(smoke=True)
    assert figures["open_orders"] == 400
    assert figures["first_alerts"] > 0
    assert all(figures["first_by_level"].values())
    assert figures["first_notifications"] > 0
    assert figures["second_alerts"] == 0
    assert figures["alerts_stored"] == figures["first_alerts"] + figures["later_alerts"]
    assert "second sweep" in capsys.readouterr().out
