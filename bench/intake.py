"""Benchmark: reports per second and latency through the real WSGI server (gunicorn).

Three paths, measured in the same run against the same server and database:

- bare: a Django view that validates the same JSON fields with pydantic and inserts one row
  (the baseline: what any Django endpoint costs here);
- report: the full intake path without a photo (validate, idempotency, locate, order,
  timeline, deadlines, duplicate check, the automatic decision's task) through the REST
  API, sent as JSON — the same JSON the bare view gets, as a mini-program sends it;
- report (form): the same report as a multipart form, as the report page sends it;
- report + photo: the form with a 200 KB JPEG (decode, orient, strip EXIF, resize,
  thumbnail, store).

The goal of the intake issue is report ≥ 0.5 × bare. Run: `python -m bench.intake`.
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from bench.common import SQLITE_FILES

ROOT = Path(__file__).resolve().parent.parent
# Named after this process, so two runs at once (a colleague's smoke test) never share or
# delete each other's database; removed at the end with SQLite's side files.
DATABASE = ROOT / "var" / f"bench-intake-{os.getpid()}.sqlite3"


def photo_200kb() -> bytes:
    """A JPEG of about 200 KB (noise compresses badly, like a real photo's detail)."""
    from PIL import Image

    rng = random.Random(1)
    side = 420
    while True:
        image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        if len(buffer.getvalue()) >= 200_000:
            return buffer.getvalue()
        side += 20


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for filename, data in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], port: int) -> Iterator[None]:
    """Yunbao under gunicorn (2 sync workers) on `port`, ready to answer, stopped after."""
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "yunbao.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_a_worker(port)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for_a_worker(port: int, seconds: float = 180.0) -> None:
    """Until a worker answers: the master listens at once, but a worker loads the models,
    jieba and scikit-learn first, which takes half a minute on a busy shared machine."""
    deadline = time.monotonic() + seconds
    while True:
        conn = HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/bench/bare")
            conn.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            conn.close()


SETUP = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection
from yunbao.catalog.models import Category
from yunbao.geo.synthetic import build_town
from yunbao.testing import build_world
world = build_world()
# A 2 km x 2 km town of 400 grids, so reports spread as they do in a real district.
build_town(district=world.district, code="B01", name="基准街", name_en="Bench Street",
           south=23.02, west=113.02, rows=20, cols=20, communities=(2, 2))
connection.cursor().execute(
    "CREATE TABLE bench_bare (id INTEGER PRIMARY KEY, lat REAL, lon REAL, description TEXT,"
    " created TEXT)")
codes = list(Category.objects.filter(active=True).values_list("code", flat=True))
print(json.dumps({"box": [23.0201, 113.0201, 23.0379, 113.0389], "categories": codes}))
"""


def prepare(env: dict[str, str]) -> dict[str, Any]:
    """A fresh database with a test town; returns its box and the category codes."""
    _remove_database()
    DATABASE.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", SETUP], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _remove_database() -> None:
    for suffix in SQLITE_FILES:
        Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)


def request(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status not in (200, 201):
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return time.perf_counter() - started


# A request to send: (method, path, body, headers), made from its index.
Make = Callable[[int], tuple[str, str, bytes, dict[str, str]]]


def measure(count: int, concurrency: int, make: Make, port: int) -> tuple[float, list[float]]:
    """Send `count` requests from `concurrency` threads: (elapsed seconds, latencies)."""

    def one(i: int) -> float:
        method, path, body, headers = make(i)
        return request(port, method, path, body, headers)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one, range(count)))
    return time.perf_counter() - started, latencies


def summary(elapsed: float, latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
    }


def interleaved(
    rounds: int, plan: dict[str, tuple[int, Make]], port: int
) -> dict[str, dict[str, float]]:
    """Run every path a little in each round, so a change in the machine's load (it is
    shared) falls on all paths alike instead of on whichever ran last."""
    totals: dict[str, tuple[float, list[float]]] = {name: (0.0, []) for name in plan}
    for _ in range(rounds):
        for name, (count, make) in plan.items():
            elapsed, latencies = measure(max(1, count // rounds), 4, make, port)
            spent, seen = totals[name]
            totals[name] = (spent + elapsed, seen + latencies)
    return {name: summary(*totals[name]) for name in plan}


def run(smoke: bool = False) -> dict[str, Any]:
    count = 12 if smoke else 400
    photo_count = 6 if smoke else 150
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.intake_settings",
        "DATABASE_URL": f"sqlite:///{DATABASE}",
        "PYTHONPATH": str(ROOT),
        # Counted as always (the cost stays in the path), but over a million a minute: the
        # run sends about a thousand reports from one address within a minute.
        "API_ANON_RATE_LIMIT": "1000000",
    }
    try:
        town = prepare(env)
    except BaseException:
        _remove_database()
        raise
    try:
        with gunicorn(env, port):
            results = _measure_intake(town, port, count, photo_count, smoke)
    finally:
        _remove_database()
    results["ratio_report_vs_bare"] = round(
        results["report"]["per_s"] / results["bare"]["per_s"], 2
    )
    results["ratio_form_vs_bare"] = round(
        results["report_form"]["per_s"] / results["bare"]["per_s"], 2
    )
    results["ratio_photo_vs_bare"] = round(
        results["report_photo"]["per_s"] / results["bare"]["per_s"], 2
    )
    return results


def _measure_intake(
    town: dict[str, Any], port: int, count: int, photo_count: int, smoke: bool
) -> dict[str, Any]:
    photo = photo_200kb()
    rng = random.Random(7)

    def spot() -> dict[str, str]:
        south, west, north, east = town["box"]
        return {
            "lat": f"{rng.uniform(south, north):.6f}",
            "lon": f"{rng.uniform(west, east):.6f}",
            "category": rng.choice(town["categories"]),
            "description": rng.choice(["路边有垃圾", "井盖松动", "路灯不亮", "乱停车"]),
        }

    def bare(_: int) -> tuple[str, str, bytes, dict[str, str]]:
        body = json.dumps(spot()).encode()
        return "POST", "/bench/bare", body, {"Content-Type": "application/json"}

    def report(_: int) -> tuple[str, str, bytes, dict[str, str]]:
        body = json.dumps(spot()).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        return "POST", "/api/v1/reports", body, headers

    def form(
        _: int, files: list[tuple[str, bytes]] | None = None
    ) -> tuple[str, str, bytes, dict[str, str]]:
        body, content_type = multipart(spot(), files or [])
        return (
            "POST",
            "/api/v1/reports",
            body,
            {"Content-Type": content_type, "Idempotency-Key": uuid.uuid4().hex},
        )

    measure(4, 2, bare, port)  # warm both workers up
    measure(4, 2, report, port)
    measure(4, 2, form, port)
    results: dict[str, Any] = interleaved(
        2 if smoke else 8,
        {
            "bare": (count, bare),
            "report": (count, report),
            "report_form": (count, form),
            "report_photo": (photo_count, lambda i: form(i, [("p.jpg", photo)])),
        },
        port,
    )
    results["photo_bytes"] = len(photo)
    return results


def main() -> None:
    results = run()
    print(
        f"photo: {results['photo_bytes'] / 1000:.0f} KB; gunicorn 2 sync workers, "
        "4 client threads, SQLite"
    )
    for name in ("bare", "report", "report_form", "report_photo"):
        r = results[name]
        print(
            f"{name:>13}: {r['per_s']:>7} req/s  p50 {r['p50_ms']:>6} ms  p99 {r['p99_ms']:>6} ms"
        )
    print(f"report / bare:        {results['ratio_report_vs_bare']:.2f}  (goal ≥ 0.5)")
    print(f"report form / bare:   {results['ratio_form_vs_bare']:.2f}")
    print(f"report+photo / bare:  {results['ratio_photo_vs_bare']:.2f}")


if __name__ == "__main__":
    main()
