"""Benchmark: `yunbao import-orders` rows per second on a generated legacy export.

Writes a CSV of N cases (default 20,000: closed on time and late, open, rejected, voided,
plus 1 % bad rows) over a synthetic district of three towns (1,200 grids) with the shipped
catalogue and four units, imports it with `insight.importer.import_orders` (orders,
timelines, import records and the indicators' aggregates, in batches), then imports it again
(every row skipped as already imported) and checks the aggregates equal `recompute()`.

    .venv/bin/python -m bench.import_orders
    .venv/bin/python -m bench.import_orders --rows 20000 --database-url postgres://postgres@127.0.0.1:5432/yb_import_bench
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import throwaway_database

HEADER = ["编号", "上报时间", "时限", "结案时间", "状态", "小类", "部门", "纬度", "经度", "描述"]
STATUSES = {"已结案": "closed", "处置中": "open", "不予立案": "rejected", "作废": "voided"}


def write_file(path: Path, rows: int, grids: list[Any], categories: list[str], seed: int) -> None:
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, 8)
    with path.open("w", encoding="utf-8", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(HEADER)
        for i in range(rows):
            south, west, north, east = grids[rng.randrange(len(grids))]
            opened = start + dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
            due = opened + dt.timedelta(hours=rng.choice((4, 24, 72)))
            roll = rng.random()
            status = "已结案" if roll < 0.85 else "处置中" if roll < 0.9 else (
                "不予立案" if roll < 0.95 else "作废"
            )  # fmt: skip
            closed = ""
            if status != "处置中":
                late = rng.random() < 0.1
                span = (due - opened) * (1 + rng.random() if late else rng.random())
                closed = f"{opened + span:%Y-%m-%d %H:%M:%S}"
            lat, lon = rng.uniform(south, north), rng.uniform(west, east)
            if rng.random() < 0.01:
                lat = 123.0  # a bad row
            out.writerow([
                f"C{i:07d}", f"{opened:%Y-%m-%d %H:%M:%S}", f"{due:%Y-%m-%d %H:%M:%S}", closed,
                status, rng.choice(categories), f"部门{i % 4}", f"{lat:.6f}", f"{lon:.6f}",
                "历史案件",
            ])  # fmt: skip


def run(rows: int = 20_000, *, batch: int = 500) -> dict[str, Any]:
    from django.db import connection

    from yunbao.catalog.models import Category
    from yunbao.geo.models import Area, Level
    from yunbao.geo.synthetic import build_district, build_town
    from yunbao.insight.importer import import_orders, mapping_from
    from yunbao.insight.models import Cell, DurationCell
    from yunbao.insight.store import clear_cache, recompute
    from yunbao.org.models import Unit, UnitKind
    from yunbao.workorders.models import WorkOrder

    district = build_district(
        "990300", "生成区", "Generated District", "generated.yunbao.org",
        (23.0, 113.0, 23.3, 113.4),
    )  # fmt: skip
    for k in range(3):
        build_town(
            district=district,
            code=f"99030000{k + 1}",
            name=f"生成镇{k + 1}",
            name_en=f"Generated Town {k + 1}",
            south=23.02 + 0.08 * k,
            west=113.02,
            rows=20,
            cols=20,
            cell_m=150,
            communities=(3, 3),
        )
    clear_cache()
    for n, kind in enumerate((UnitKind.SANITATION, UnitKind.GREENING, UnitKind.ENFORCEMENT,
                              UnitKind.UTILITY)):  # fmt: skip
        Unit.objects.create(code=f"bench-{n}", name=f"部门{n}", kind=kind)
    grids = list(
        Area.objects.filter(level=Level.GRID).values_list(
            "min_lat", "min_lon", "max_lat", "max_lon"
        )
    )
    categories = list(Category.objects.filter(active=True).values_list("code", flat=True)[:60])
    mapping = mapping_from({
        "system": "bench",
        "columns": dict(zip(
            ("id", "opened", "due", "closed", "status", "category", "unit", "latitude",
             "longitude", "description"), HEADER, strict=True)),
        "statuses": STATUSES,
        "units": {f"部门{n}": f"bench-{n}" for n in range(4)},
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.csv"
        write_file(path, rows, grids, categories, seed=2025)
        t0 = time.perf_counter()
        first = import_orders(path, mapping, batch=batch, progress=print, progress_every=5000)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = import_orders(path, mapping, batch=batch)
        second_s = time.perf_counter() - t0

    def snapshot() -> tuple[list[Any], list[Any]]:
        # Every column but the id, rows that cancelled out left aside.
        cells = sorted(tuple(r[1:]) for r in Cell.objects.values_list() if any(r[8:]))
        durations = sorted(tuple(r[1:]) for r in DurationCell.objects.values_list() if any(r[-2:]))
        return cells, durations

    kept = snapshot()
    recompute()
    agree = snapshot() == kept
    figures = {
        "database": connection.vendor,
        "rows": first.rows,
        "imported": first.imported,
        "bad": len(first.bad),
        "seconds": round(first_s, 2),
        "rows_per_s": round(first.rows / first_s),
        "rerun_already": second.already,
        "rerun_rows_per_s": round(second.rows / second_s),
        "orders": WorkOrder.objects.count(),
        "agree_with_recompute": agree,
    }
    print(
        f"{connection.vendor}: {first.rows:,} rows, {first.imported:,} imported, "
        f"{len(first.bad)} bad in {first_s:.1f} s = {figures['rows_per_s']:,} rows/s; "
        f"re-run {figures['rerun_rows_per_s']:,} rows/s (all skipped); "
        f"aggregates = recompute: {agree}"
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="cases in the file")
    parser.add_argument("--batch", type=int, default=500, help="rows per transaction")
    parser.add_argument("--database-url", help="default: a throwaway SQLite file under var/")
    args = parser.parse_args(argv)
    with throwaway_database("import-orders", args.database_url):
        figures = run(args.rows, batch=args.batch)
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
