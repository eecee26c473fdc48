"""Benchmark: the main dashboard's indicators from the aggregates, beside scanning the orders.

`yunbao.insight.generate` writes N orders of realistic history over a synthetic district of
three towns (1,200 grids, 27 villages), the shipped catalogue and four units, and adds them
to the aggregates. Then the main dashboard (`insight.indicators.dashboard`: every indicator,
the stage durations, the daily trend and the unit and village rankings) is timed for the
last 30 days of the whole district, one street, one unit and one category, each `--repeats`
times (p50/p95 over all calls), beside the baseline computed in the same run: the same
report (indicators and durations only, no trend or ranking) by reading the orders and
their timelines and computing every count from them (`insight.drilldown.scan`), a few
times per filter. The two must agree exactly; the JSON says whether they did.

    .venv/bin/python -m bench.insight --count 1000000
    .venv/bin/python -m bench.insight --count 1000000 --database-url postgres://postgres@127.0.0.1:5432/yb_insight_bench
    .venv/bin/python -m bench.insight --smoke

`run()` measures in whatever database Django is configured with (the smoke test calls it
with `smoke=True` inside its test database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from typing import Any

from bench.common import throwaway_database


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(
    count: int = 100_000, *, smoke: bool = False, repeats: int = 20, baseline_repeats: int = 2
) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from yunbao.geo.models import Area, Level
    from yunbao.insight.drilldown import scan
    from yunbao.insight.generate import generate
    from yunbao.insight.indicators import Filter, dashboard
    from yunbao.insight.models import Cell, DurationCell
    from yunbao.workorders.models import WorkOrder

    if smoke:
        count, repeats, baseline_repeats = 300, 2, 1
    started = time.perf_counter()
    generated = generate(count, seed=2025, days=365, progress=print)
    build_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    today = timezone.localdate()
    start = today - dt.timedelta(days=29)
    district = Area.objects.filter(level=Level.DISTRICT).order_by("code").first()
    street = Area.objects.filter(level=Level.STREET).order_by("code").first()
    assert district is not None
    assert street is not None
    common = WorkOrder.objects.values_list("category_id", flat=True).order_by("category_id").first()
    unit = WorkOrder.objects.exclude(unit=None).values_list("unit_id", flat=True).first()
    filters = {
        "district": Filter.of(start=start, end=today, area=district),
        "street": Filter.of(start=start, end=today, area=street),
        "unit": Filter(start=start, end=today, unit=unit),
        "category": Filter(start=start, end=today, category=common),
    }
    for f in filters.values():
        dashboard(f)  # warm the caches (areas, weights) and the database's pages
    timings: dict[str, list[float]] = {name: [] for name in filters}
    for _ in range(repeats):
        for name, f in filters.items():
            t0 = time.perf_counter()
            dashboard(f)
            timings[name].append(time.perf_counter() - t0)
    scans: dict[str, list[float]] = {name: [] for name in filters}
    agree = True
    for _ in range(baseline_repeats):
        for name, f in filters.items():
            t0 = time.perf_counter()
            counts, durations = scan(f)
            scans[name].append(time.perf_counter() - t0)
            board = dashboard(f)
            agree &= counts == board.report.counts and durations == board.report.durations

    every = [t for ts in timings.values() for t in ts]
    every_scan = [t for ts in scans.values() for t in ts]

    def ms(x: float) -> float:
        return round(1000 * x, 1)

    figures: dict[str, Any] = {
        "database": connection.vendor,
        "orders": WorkOrder.objects.count(),
        "generated": generated,
        "cells": Cell.objects.count(),
        "duration_cells": DurationCell.objects.count(),
        "build_seconds": round(build_seconds, 1),
        "period": [start.isoformat(), today.isoformat()],
        "dashboard_ms": {
            name: {"p50": ms(statistics.median(ts)), "p95": ms(_pct(ts, 0.95))}
            for name, ts in timings.items()
        },
        "dashboard_all_ms": {"p50": ms(statistics.median(every)), "p95": ms(_pct(every, 0.95))},
        "scan_ms": {
            name: {"p50": ms(statistics.median(ts)), "p95": ms(_pct(ts, 0.95))}
            for name, ts in scans.items()
        },
        "scan_all_ms": {
            "p50": ms(statistics.median(every_scan)),
            "p95": ms(_pct(every_scan, 0.95)),
        },
        "agree": agree,
        "repeats": repeats,
        "baseline_repeats": baseline_repeats,
    }
    print(
        f"{connection.vendor}: {figures['orders']:,} orders, {figures['cells']:,} cells, "
        f"{figures['duration_cells']:,} duration cells (built in {build_seconds:.0f} s)"
    )
    print(f"dashboard of the last 30 days, {repeats} calls per filter:")
    for name in filters:
        d, s = figures["dashboard_ms"][name], figures["scan_ms"][name]
        print(
            f"  {name:<9} aggregates p50 {d['p50']:>8.1f} ms  p95 {d['p95']:>8.1f} ms   "
            f"scan p50 {s['p50']:>9.1f} ms"
        )
    a, s = figures["dashboard_all_ms"], figures["scan_all_ms"]
    print(f"  all       aggregates p50 {a['p50']:>8.1f} ms  p95 {a['p95']:>8.1f} ms   "
          f"scan p50 {s['p50']:>9.1f} ms")  # fmt: skip
    print(f"aggregates and scan agree: {agree}")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="orders to generate")
    parser.add_argument("--repeats", type=int, default=20, help="dashboard calls per filter")
    parser.add_argument("--baseline-repeats", type=int, default=2, help="scans per filter")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--database-url", help="default: a throwaway SQLite file under var/")
    args = parser.parse_args(argv)
    with throwaway_database("insight", args.database_url):
        figures = run(
            args.count,
            smoke=args.smoke,
            repeats=args.repeats,
            baseline_repeats=args.baseline_repeats,
        )
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
