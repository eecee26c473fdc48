"""`make bench`: run every benchmark and print its figures and ratios.

Each database run is its own process, since Django configures one database per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/yunbao_bench")


def _child(module: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", module, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    print("== point → grid lookups (10,000-grid town)")
    subprocess.run([sys.executable, "-m", "bench.locate"], check=True)
    print("\n== work-order transitions")
    sqlite = _child(
        "bench.transitions", "--database-url", "sqlite:///var/bench-transitions.sqlite3"
    )
    print(f"SQLite:     {sqlite['transitions_per_s']:>8} transitions/s ({sqlite})")
    try:
        pg = _child("bench.transitions", "--database-url", PG_URL)
    except subprocess.CalledProcessError as exc:
        print(f"PostgreSQL: not measured ({exc.stderr.strip().splitlines()[-1:]})")
        return
    print(f"PostgreSQL: {pg['transitions_per_s']:>8} transitions/s ({pg})")
    ratio = float(pg["transitions_per_s"]) / float(sqlite["transitions_per_s"])  # type: ignore[arg-type]
    print(f"ratio PostgreSQL / SQLite: {ratio:.2f}")


def others() -> None:
    print("\n== duplicate detection (precision / recall)")
    subprocess.run([sys.executable, "-m", "bench.dedupe"], check=True)
    print("\n== intake through gunicorn")
    subprocess.run([sys.executable, "-m", "bench.intake"], check=True)
    print("\n== text classifier (100,000 texts)")
    subprocess.run([sys.executable, "-m", "bench.classifier"], check=True)
    print("\n== automatic dispatch decisions (10,000 grids, 500 staff, 50,000 open orders)")
    subprocess.run([sys.executable, "-m", "bench.dispatch", "--analyze"], check=True)
    print("\n== background tasks through the worker (database backend on SQLite, Redis)")
    subprocess.run([sys.executable, "-m", "bench.tasks"], check=True)
    print("\n== time-limit sweep (100,000 open orders)")
    subprocess.run([sys.executable, "-m", "bench.sla"], check=True)
    print("\n== telemetry gateway (JT/T 808 over TCP from 2,000 terminals, SQLite and PostgreSQL)")
    subprocess.run([sys.executable, "-m", "bench.fleet"], check=True)
    print("\n== JT/T 808 codec (frames/s on one core)")
    subprocess.run([sys.executable, "-m", "bench.jt808"], check=True)
    print("\n== indicators: the main dashboard from aggregates beside a scan (100,000 orders)")
    subprocess.run([sys.executable, "-m", "bench.insight", "--count", "100000"], check=True)
    print("\n== exports: CSV and XLSX downloads of 20,000 orders (rows/s)")
    subprocess.run([sys.executable, "-m", "bench.exports", "--count", "20000"], check=True)


if __name__ == "__main__":
    main()
    others()
