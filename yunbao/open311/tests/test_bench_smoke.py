"""A tiny run of the Open311 benchmark: the real server answers every path (no timing asserted)."""

from __future__ import annotations

from bench.open311 import run


def test_it_runs_the_open311_benchmark_end_to_end() -> None:
    results = run(smoke=True)
    assert results["get_returned"] == 1000
    for path in ("get_json_1000", "get_xml_1000", "post"):
        assert results[path]["per_s"] > 0
        assert results[path]["p50_ms"] <= results[path]["p99_ms"]
