"""Benchmark: the Open311 API through the real WSGI server (gunicorn), on SQLite.

- GET requests.json and requests.xml returning 1000 requests (the spec's default limit)
  out of 1200 orders of the last 90 days, some dispatched to a unit, some with a photo and
  a public note: the page costs two queries whatever its size;
- POST requests.json: a form-encoded request with an api_key, through intake (validation,
  locate, duplicate search, order, timeline) and the automatic decision's task row.

Run: `python -m bench.open311` (`--smoke` for a tiny run). Server helpers come from
`bench.intake`, so both benchmarks measure the same way.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.common import SQLITE_FILES
from bench.intake import Make, free_port, gunicorn, interleaved, measure

ROOT = Path(__file__).resolve().parent.parent
DATABASE = ROOT / "var" / f"bench-open311-{os.getpid()}.sqlite3"

SETUP = """
import django, json, random
from datetime import timedelta
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.utils import timezone
from yunbao.catalog.models import Category
from yunbao.geo.synthetic import build_town
from yunbao.open311.actions import create_client
from yunbao.open311.models import Jurisdiction
from yunbao.testing import build_world, stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import PhotoKind, WorkOrder
world = build_world()
build_town(district=world.district, code="B01", name="基准街", name_en="Bench Street",
           south=23.02, west=113.02, rows=20, cols=20, communities=(2, 2))
Jurisdiction.objects.create(jurisdiction_id="bench.example", name="基准区", area=world.district)
client, key = create_client("bench")
rng = random.Random(3)
codes = list(Category.objects.filter(active=True).values_list("code", flat=True))
categories = list(Category.objects.filter(active=True))
now = timezone.now()
photo = stored_photo().image
for i in range(1200):
    order = actions.submit(
        actor=None, lat=rng.uniform(23.0201, 23.0379), lon=rng.uniform(113.0201, 113.0389),
        description=rng.choice(["路边有垃圾", "井盖松动", "路灯不亮", "乱停车"]) + f" {i}",
        category=rng.choice(categories), at=now - timedelta(days=80) + timedelta(minutes=90 * i),
    )
    if i % 3 == 0:
        actions.add_photo(order, actor=None, kind=PhotoKind.BEFORE, image=photo)
    if i % 4 == 0:
        actions.reject(order, actor=None, note="不属于受理范围", at=order.created_at)
WorkOrder.objects.filter(pk__in=WorkOrder.objects.filter(status="submitted").values("pk")[:500]
                         ).update(unit=world.unit1)
print(json.dumps({"box": [23.0201, 113.0201, 23.0379, 113.0389], "categories": codes,
                  "key": key}))
"""


def prepare(env: dict[str, str]) -> dict[str, Any]:
    _remove_database()
    DATABASE.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", SETUP], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _remove_database() -> None:
    for suffix in SQLITE_FILES:
        Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)


def check_get(port: int, path: str) -> int:
    """How many requests a GET returns (the benchmark must really get 1000)."""
    from http.client import HTTPConnection

    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return len(json.loads(body))


def run(smoke: bool = False) -> dict[str, Any]:
    gets = 6 if smoke else 120
    posts = 8 if smoke else 300
    rounds = 2 if smoke else 6
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.intake_settings",
        "DATABASE_URL": f"sqlite:///{DATABASE}",
        "PYTHONPATH": str(ROOT),
    }
    try:
        town = prepare(env)
    except BaseException:
        _remove_database()
        raise
    rng = random.Random(11)
    try:
        with gunicorn(env, port):
            return _measure_open311(town, port, gets, posts, rounds, rng)
    finally:
        _remove_database()


def _measure_open311(
    town: dict[str, Any], port: int, gets: int, posts: int, rounds: int, rng: random.Random
) -> dict[str, Any]:
    def get(fmt: str) -> Make:
        return lambda _: ("GET", f"/open311/v2/requests.{fmt}", b"", {})

    def post(_: int) -> tuple[str, str, bytes, dict[str, str]]:
        south, west, north, east = town["box"]
        form = {
            "api_key": town["key"],
            "service_code": rng.choice(town["categories"]),
            "lat": f"{rng.uniform(south, north):.6f}",
            "long": f"{rng.uniform(west, east):.6f}",
            "description": rng.choice(["路边有垃圾", "井盖松动", "路灯不亮", "乱停车"]),
        }
        return (
            "POST",
            "/open311/v2/requests.json",
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    returned = check_get(port, "/open311/v2/requests.json")
    measure(4, 2, get("json"), port)  # warm both workers up
    measure(4, 2, post, port)
    plan: dict[str, tuple[int, Make]] = {
        "get_json_1000": (gets, get("json")),
        "get_xml_1000": (gets, get("xml")),
        "post": (posts, post),
    }
    results: dict[str, Any] = interleaved(rounds, plan, port)
    results["get_returned"] = returned
    return results


def main() -> None:
    results = run(smoke="--smoke" in sys.argv)
    print("gunicorn 2 sync workers, 4 client threads, SQLite; 1200 orders in the window")
    print(f"GET requests returned {results['get_returned']} requests per page")
    for name in ("get_json_1000", "get_xml_1000", "post"):
        r = results[name]
        print(
            f"{name:>14}: {r['per_s']:>7} req/s  p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
