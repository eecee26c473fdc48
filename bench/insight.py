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
    .venv/bin/python -m bench.insight --count 1000000 --baseline-repeats 0 \
        --database-url postgres://postgres@127.0.0.1:5432/yb_insight_1m
    .venv/bin/python -m bench.insight --reuse \
        --database-url postgres://postgres@127.0.0.1:5432/yb_insight_1m
    .venv/bin/python -m bench.insight --smoke

A server database named by `--database-url` is recreated empty at the start and kept at the
end, so that `--reuse` can measure its orders again (on a quiet machine, after a change to
the readers) without generating them: the database is only migrated. The scan baseline
reads every order of the period per call (minutes at a million orders on PostgreSQL):
`--baseline-repeats 0` leaves it out, and `agree` is then null rather than true.

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

from bench.common import existing_database, throwaway_database


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(
    count: int = 100_000,
    *,
    smoke: bool = False,
    repeats: int = 20,
    baseline_repeats: int = 2,
    reuse: bool = False,
) -> dict[str, Any]:
    """Generate `count` orders (none with `reuse`: measure those in the database) and time
    the dashboard beside the scan baseline."""
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
    generated: dict[str, Any] | None = None
    build_seconds: float | None = None
    if not reuse:
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
    # Null without a baseline: nothing was compared.
    agree: bool | None = True if baseline_repeats else None
    for _ in range(baseline_repeats):
        for name, f in filters.items():
            t0 = time.perf_counter()
            counts, durations = scan(f)
            scans[name].append(time.perf_counter() - t0)
            board = dashboard(f)
            agree = bool(agree) and (
                counts == board.report.counts and durations == board.report.durations
            )

    every = [t for ts in timings.values() for t in ts]
    every_scan = [t for ts in scans.values() for t in ts]

    def ms(x: float) -> float:
        return round(1000 * x, 1)

    def quantiles(ts: list[float]) -> dict[str, float | None]:
        if not ts:
            return {"p50": None, "p95": None}
        return {"p50": ms(statistics.median(ts)), "p95": ms(_pct(ts, 0.95))}

    figures: dict[str, Any] = {
        "database": connection.vendor,
        "orders": WorkOrder.objects.count(),
        "generated": generated,
        "cells": Cell.objects.count(),
        "duration_cells": DurationCell.objects.count(),
        "build_seconds": None if build_seconds is None else round(build_seconds, 1),
        "reused": reuse,
        "period": [start.isoformat(), today.isoformat()],
        "dashboard_ms": {
            name: {"p50": ms(statistics.median(ts)), "p95": ms(_pct(ts, 0.95))}
            for name, ts in timings.items()
        },
        "dashboard_all_ms": {"p50": ms(statistics.median(every)), "p95": ms(_pct(every, 0.95))},
        "scan_ms": {name: quantiles(ts) for name, ts in scans.items()},
        "scan_all_ms": quantiles(every_scan),
        "agree": agree,
        "repeats": repeats,
        "baseline_repeats": baseline_repeats,
    }
    built = "reused" if build_seconds is None else f"built in {build_seconds:.0f} s"
    print(
        f"{connection.vendor}: {figures['orders']:,} orders, {figures['cells']:,} cells, "
        f"{figures['duration_cells']:,} duration cells ({built})"
    )
    print(f"dashboard of the last 30 days, {repeats} calls per filter:")
    for name in filters:
        d, s = figures["dashboard_ms"][name], figures["scan_ms"][name]
        print(
            f"  {name:<9} aggregates p50 {d['p50']:>8.1f} ms  p95 {d['p95']:>8.1f} ms   "
            f"scan p50 {_shown(s['p50'])} ms"
        )
    a, s = figures["dashboard_all_ms"], figures["scan_all_ms"]
    print(f"  all       aggregates p50 {a['p50']:>8.1f} ms  p95 {a['p95']:>8.1f} ms   "
          f"scan p50 {_shown(s['p50'])} ms")  # fmt: skip
    print(f"aggregates and scan agree: {agree}")
    return figures


def _shown(value: float | None) -> str:
    return f"{value:>9.1f}" if value is not None else "        -"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="orders to generate")
    parser.add_argument("--repeats", type=int, default=20, help="dashboard calls per filter")
    parser.add_argument("--baseline-repeats", type=int, default=2, help="scans per filter")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument(
        "--database-url",
        help="default: a throwaway SQLite file under var/; a server database is recreated "
        "empty and kept",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the orders already in --database-url (generate none, delete nothing)",
    )
    args = parser.parse_args(argv)
    if args.reuse and not args.database_url:
        parser.error("--reuse needs --database-url")
    setup = (
        existing_database(args.database_url)
        if args.reuse
        else throwaway_database("insight", args.database_url)
    )
    with setup:
        figures = run(
            args.count,
            smoke=args.smoke,
            repeats=args.repeats,
            baseline_repeats=args.baseline_repeats,
            reuse=args.reuse,
        )
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
