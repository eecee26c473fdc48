"""A tiny run of the intake benchmark: the real server answers every path (no timing asserted)."""

from __future__ import annotations

from bench.intake import run


def test_it_runs_the_intake_benchmark_end_to_end() -> None:
    results = run(smoke=True)
    for path in ("bare", "report", "report_form", "report_photo"):
        assert results[path]["per_s"] > 0
        assert results[path]["p50_ms"] <= results[path]["p99_ms"]
    assert results["photo_bytes"] >= 200_000
