"""Benchmark: work-order transitions per second, on SQLite and on PostgreSQL.

Each order goes through its whole life (accept, dispatch, start, finish, verify), every move
through `actions.transition` with its lock, checks, timeline row and deadline computation.
Run one database per process (Django configures its database once):

    python -m bench.transitions --database-url sqlite:///var/bench-transitions.sqlite3
    python -m bench.transitions --database-url postgres://postgres@127.0.0.1:5432/yunbao_bench

`python -m bench` runs both and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

LIFE = ("accept", "dispatch", "start", "finish", "verify")


def prepare_database(url: str) -> None:
    """Start from an empty database: delete the SQLite file or recreate the PG database."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def run(orders: int = 200, *, migrate: bool = True) -> dict[str, Any]:
    """Measure in the configured database; returns transitions/s and the counts."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from yunbao.testing import build_world
    from yunbao.workorders import actions
    from yunbao.workorders.models import WorkOrder

    if migrate:
        call_command("migrate", verbosity=0)
    world = build_world()
    bob, carol = world.users["bob"], world.users["carol"]
    lat, lon = world.point1()
    created = [
        actions.submit(actor=world.users["erin"], lat=lat, lon=lon, category=world.category)
        for _ in range(orders)
    ]
    started = time.perf_counter()
    for order in created:
        actions.accept(order, actor=None)
        actions.dispatch(order, actor=None, unit=world.unit1, worker=bob)
        actions.start(order, actor=bob)
        actions.finish(order, actor=bob, note="done")
        actions.verify(order, actor=carol)
    elapsed = time.perf_counter() - started
    moves = orders * len(LIFE)
    closed = WorkOrder.objects.filter(status="closed").count()
    assert closed == orders, (closed, orders)
    return {
        "database": connection.vendor,
        "orders": orders,
        "transitions": moves,
        "seconds": round(elapsed, 3),
        "transitions_per_s": round(moves / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args(argv)
    prepare_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yunbao.settings_test")
    result = run(args.orders)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
