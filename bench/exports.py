"""Benchmark: the operations centre's downloads over N generated orders (rows per second).

`yunbao.insight.generate` writes N orders of realistic history (as for `bench.insight`);
then an administrator downloads, through the real views (Django's test client: the URL,
the filters, `visible_to`, the response), every order of the year as CSV and as XLSX,
each `--repeats` times, and once the orders behind one figure (the closing rate's
denominator over the last 30 days: the drill-down's recomputation from the timelines
comes first) and the indicator workbook. Each figure is the median of its repeats, with the
rows written per second; the CSV's and the workbook's row counts are checked against the
orders in the database.

    .venv/bin/python -m bench.exports --count 20000
    .venv/bin/python -m bench.exports --count 20000 --database-url postgres://postgres@127.0.0.1:5432/yb_exports_bench
    .venv/bin/python -m bench.exports --smoke

`run()` measures in whatever database Django is configured with (the smoke test calls it
inside its test database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import time
from typing import Any

from bench.common import throwaway_database


def _download(client: Any, url: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[-400:])
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return time.perf_counter() - t0, body


def run(count: int = 20_000, *, smoke: bool = False, repeats: int = 3) -> dict[str, Any]:
    import openpyxl
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from yunbao.insight.generate import generate
    from yunbao.org.actions import create_staff
    from yunbao.org.models import Role
    from yunbao.workorders.models import WorkOrder

    if smoke:
        count, repeats = 300, 1
    started = time.perf_counter()
    generate(count, seed=2025, days=365, progress=lambda _line: None)
    build_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    # A throwaway account in a throwaway database; the client logs in without it.
    from django.conf import settings

    # The test client's host (pytest-django allows it in tests; a plain process must too).
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    admin = create_staff(username="bench-admin", password="pw-bench", roles=[Role.ADMIN])  # noqa: S106
    client = Client()
    client.force_login(admin)
    today = timezone.localdate()
    year = f"start={(today - dt.timedelta(days=366)).isoformat()}&end={today.isoformat()}"
    month = f"start={(today - dt.timedelta(days=29)).isoformat()}&end={today.isoformat()}"
    orders = WorkOrder.objects.count()

    figures: dict[str, Any] = {"database": connection.vendor, "orders": orders}
    # Warm up: the first request imports the views and fills the per-process caches.
    for fmt in ("csv", "xlsx"):
        _download(client, f"/insight/export/orders.{fmt}?start={today.isoformat()}")
    for fmt in ("csv", "xlsx"):
        times, size, rows = [], 0, 0
        for _ in range(repeats):
            seconds, body = _download(client, f"/insight/export/orders.{fmt}?{year}")
            times.append(seconds)
            size = len(body)
            if fmt == "csv":
                rows = body.decode("utf-8-sig").count("\r\n") - 1
            else:
                wb = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
                rows = sum(1 for _row in wb.active.iter_rows(values_only=True)) - 1
                wb.close()
        assert rows == orders, (fmt, rows, orders)
        median = statistics.median(times)
        figures[f"orders_{fmt}"] = {
            "rows": rows,
            "seconds": round(median, 2),
            "rows_per_s": round(rows / median),
            "mb": round(size / 1e6, 1),
        }
    seconds, body = _download(
        client, f"/insight/export/orders.csv?{month}&indicator=closing_rate&part=denominator"
    )
    rows = body.decode("utf-8-sig").count("\r\n") - 1
    figures["figure_csv"] = {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
    }
    seconds, _body = _download(client, f"/insight/export/indicators.xlsx?{month}")
    figures["indicators_xlsx_ms"] = round(1000 * seconds, 1)
    figures["build_seconds"] = round(build_seconds, 1)
    figures["repeats"] = repeats

    print(f"{connection.vendor}: {orders:,} orders (generated in {build_seconds:.0f} s)")
    for fmt in ("csv", "xlsx"):
        f = figures[f"orders_{fmt}"]
        print(
            f"  every order as {fmt.upper():<4} {f['rows']:>8,} rows in {f['seconds']:>6.2f} s"
            f"  = {f['rows_per_s']:>8,} rows/s  ({f['mb']} MB)"
        )
    f = figures["figure_csv"]
    print(
        f"  behind a figure (CSV) {f['rows']:>8,} rows in {f['seconds']:>6.2f} s"
        f"  = {f['rows_per_s'] or 0:>8,} rows/s  (drill-down recomputation included)"
    )
    print(f"  indicator workbook    {figures['indicators_xlsx_ms']:>8.1f} ms")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="orders to generate")
    parser.add_argument("--repeats", type=int, default=3, help="downloads per format")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--database-url", help="default: a throwaway SQLite file under var/")
    args = parser.parse_args(argv)
    with throwaway_database("exports", args.database_url):
        figures = run(args.count, smoke=args.smoke, repeats=args.repeats)
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
