"""Smoke test of the locate benchmark: it runs end to end and reports positive figures."""

from __future__ import annotations

import pytest

from bench.locate import run

pytestmark = pytest.mark.django_db


def test_it_runs_the_locate_benchmark_in_smoke_mode(capsys):
    figures = run(smoke=True)
    for key in ("single_per_s", "batched_per_s", "naive_per_s", "single_vs_naive"):
        assert figures[key] > 0, key
    assert figures["grids"] == 36
    assert 0 < figures["share_inside"] <= 1
    assert "lookups/s" in capsys.readouterr().out
