"""Benchmark: positions per second end to end through the telemetry gateway, over TCP.

`python -m bench.fleet [--devices 2000] [--seconds 20] [--database sqlite|postgres|both]`

For each database, in the same run:

- a real gateway process (`yunbao gateway`) on a throwaway database (a SQLite file under
  var/, or the PostgreSQL database `yunbao_bench_fleet`, recreated and migrated);
- memory: the gateway's RSS before and after 1,000 idle authenticated connections;
- end to end: a load generator in a separate process (asyncio + uvloop, pre-encoded frames)
  opens one connection per terminal (2,000 by default), authenticates each, then keeps
  `--window` locations in flight per terminal for `--seconds` seconds. Throughput counts the
  positions acknowledged (0x8001 OK) in that time, checked afterwards against the rows in
  the table; the ack latency is from sending a location to its answer (p50, p99). The
  `single` line is one position per 0x0200 frame, the `batch` line 0x0704 frames of
  `--batch-size` positions each (a terminal sending blind-area backfill);
- raw: the same batched insert the gateway does (`store.write_fixes`: binary COPY on
  PostgreSQL, executemany on SQLite, plus the latest-position upsert), in batches of
  FLEET_BATCH_ROWS, straight from this process into the same table: the ceiling the
  gateway could reach. The goal of the fleet issue: ≥ 30,000 positions/s end to end on
  PostgreSQL, and ≥ 0.3 of the raw rate.

Everything runs on this machine: gateway, database server and load generator share its
cores, as the goal demands.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get(
    "BENCH_FLEET_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/yunbao_bench_fleet"
)
FIRST_PHONE = 13_700_000_000
AUTH_CODE = "bench-code"
GROUPS = 64  # distinct vehicle paths; terminal i drives path i % GROUPS
UTC = dt.UTC


# --- the load generator (its own process; no Django) ------------------------------------------


def _bodies(count: int, batch: int, seed: int) -> list[tuple[int, bytes, int]]:
    """`count` location bodies (or 0x0704 bodies of `batch` positions) of a vehicle driving
    along a synthetic street lattice, one second apart, with their message id and XOR."""
    from functools import reduce
    from operator import xor

    from yunbao.fleet import jt808
    from yunbao.fleet.simulate import Streets, Vehicle

    rng = random.Random(seed)
    streets = Streets(
        "bench",
        tuple(23.155 + i * 0.0009 for i in range(21)),
        tuple(113.255 + j * 0.00098 for j in range(21)),
    )
    vehicle = Vehicle(streets, rng, rng.uniform(12, 40))
    start = dt.datetime.now(UTC).replace(microsecond=0)
    bodies = []
    second = 0
    for _k in range(count):
        items = []
        for _item in range(max(batch, 1)):
            vehicle.advance(1.0)
            second += 1
            lat, lon = vehicle.position()
            items.append(
                jt808.Location(
                    alarm=0,
                    status=0b11 | (1 << 18),
                    lat=lat,
                    lon=lon,
                    altitude=12,
                    speed_kmh=round(vehicle.speed_kmh, 1),
                    course=vehicle.course,
                    time=start + dt.timedelta(seconds=second),
                    mileage_km=round(vehicle.odometer_km, 1),
                    satellites=rng.randint(8, 16),
                    signal=rng.randint(14, 31),
                )
            )
        if batch:
            msg_id, body = jt808.BATCH_LOCATION, jt808.encode_batch(items)
        else:
            msg_id, body = jt808.LOCATION, jt808.encode_location(items[0])
        bodies.append((msg_id, body, reduce(xor, body, 0)))
    return bodies


_HEAD = struct.Struct(">HH6sH")


def _frame(msg_id: int, bcd: bytes, serial: int, body: bytes, body_xor: int) -> bytes:
    """A 2013 frame around a ready body (the codec's `encode_frame`, minus its checks, so
    that a million frames are ready in seconds)."""
    head = _HEAD.pack(msg_id, len(body), bcd, serial)
    check = body_xor
    for byte in head:
        check ^= byte
    raw = head + body + bytes((check,))
    if b"\x7d" in raw:
        raw = raw.replace(b"\x7d", b"\x7d\x01")
    if b"\x7e" in raw:
        raw = raw.replace(b"\x7e", b"\x7d\x02")
    return b"\x7e" + raw + b"\x7e"


class _Terminal(asyncio.Protocol):
    """One load-generating terminal: authenticates, then keeps `window` frames in flight."""

    def __init__(self, load: _Load, index: int) -> None:
        from yunbao.fleet import jt808

        self.load = load
        self.phone = str(FIRST_PHONE + index)
        self.auth = jt808.encode_frame(
            jt808.AUTHENTICATE,
            self.phone,
            1,
            jt808.encode_authenticate(jt808.Authenticate(AUTH_CODE), None),
        )
        self.frames = load.frames_of(index)
        self.sent_at = [0.0] * load.ring
        self.next = 0
        self.in_flight = 0
        self.authenticated = False
        self.deframer = jt808.Deframer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.auth)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.load.lost += 1

    def data_received(self, data: bytes) -> None:
        load = self.load
        now = load.loop.time()
        acked = 0
        for frame in self.deframer.feed(data):
            if b"\x7d" in frame:
                frame = frame.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
            # 0x8001 body at 12 (2013 header): reply serial, reply id, result.
            if frame[0:2] != b"\x80\x01":
                continue
            serial = int.from_bytes(frame[12:14])
            result = frame[16]
            if frame[14:16] == b"\x01\x02":
                if result == 0:
                    self.authenticated = True
                    load.authenticated += 1
                else:
                    load.errors += 1
                continue
            self.in_flight -= 1
            if result != 0:
                load.errors += 1
                continue
            acked += 1
            if load.measuring:
                load.latencies.append(now - self.sent_at[(serial - 100) % load.ring])
        if acked:
            load.total_acked += acked * load.per_frame
            if load.measuring:
                load.acked += acked * load.per_frame
            elif load.draining:
                load.drained += acked * load.per_frame
        if self.authenticated and load.sending and not load.paced:
            self.fill(now)

    def fill(self, now: float, most: int = 1 << 30) -> None:
        """Send frames until `window` are in flight (at most `most` of them)."""
        load = self.load
        if self.transport is None:
            return
        chunk = []
        while self.in_flight < load.window and most > 0:
            most -= 1
            k = self.next
            self.next = k + 1
            if self.next == load.ring:
                # Round again: the fix times repeat from here (reported; make --ring larger).
                self.next = 0
                load.wrapped += 1
            self.sent_at[k] = now
            chunk.append(self.frames[k])
            self.in_flight += 1
        if chunk:
            if load.measuring:
                load.sent += len(chunk) * load.per_frame
            self.transport.write(b"".join(chunk))


class _Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.window: int = args.window
        self.per_frame: int = max(args.batch_size, 1)
        self.loop = asyncio.get_running_loop()
        self.authenticated = 0
        self.errors = 0
        self.lost = 0
        self.sent = 0
        self.acked = 0
        self.drained = 0
        self.total_acked = 0  # warm-up and drain included: to compare with the table
        self.latencies: list[float] = []
        self.measuring = False
        self.sending = False
        self.draining = False
        self.ring: int = args.ring
        # Paced: each terminal sends `rate` frames a second (open loop) instead of keeping
        # its window full, to see the ack latency of a load the gateway keeps up with.
        self.paced: bool = args.rate > 0
        self.wrapped = 0
        self._bodies = [
            _bodies(self.ring, args.batch_size, seed) for seed in range(min(args.devices, GROUPS))
        ]

    def frames_of(self, index: int) -> list[bytes]:
        """The terminal's ring of frames: its group's bodies, serials from 100."""
        bcd = bytes.fromhex(str(FIRST_PHONE + index).zfill(12))
        bodies = self._bodies[index % len(self._bodies)]
        return [
            _frame(msg_id, bcd, (100 + k) & 0xFFFF, body, body_xor)
            for k, (msg_id, body, body_xor) in enumerate(bodies)
        ]


async def _pace(load: _Load, terminals: list[_Terminal], rate: float) -> None:
    """Every TICK, one frame from each terminal of the tick's slot: terminal i sends at
    slot i % slots, so each sends `rate` frames a second, spread evenly."""
    tick = 0.01
    slots = max(1, round(1 / (rate * tick)))
    groups = [terminals[slot::slots] for slot in range(slots)]
    loop = load.loop
    start = loop.time()
    n = 0
    while True:
        now = loop.time()
        for t in groups[n % slots]:
            if t.authenticated:
                t.fill(now, 1)
        n += 1
        await asyncio.sleep(max(0.0, start + n * tick - loop.time()))


def _factory(protocol: _Terminal) -> Callable[[], _Terminal]:
    return lambda: protocol


async def _load_main(args: argparse.Namespace) -> dict[str, Any]:
    load = _Load(args)
    loop = load.loop
    terminals: list[_Terminal] = []
    prepared = time.monotonic()
    protocols = [_Terminal(load, args.first + i) for i in range(args.devices)]
    prepared = time.monotonic() - prepared
    started = time.monotonic()
    for start in range(0, len(protocols), 200):
        await asyncio.gather(
            *(
                loop.create_connection(_factory(p), args.host, args.port)
                for p in protocols[start : start + 200]
            )
        )
    terminals = protocols
    while load.authenticated + load.errors < args.devices and time.monotonic() - started < 60:
        await asyncio.sleep(0.05)
    connect_seconds = time.monotonic() - started
    result: dict[str, Any] = {
        "devices": args.devices,
        "authenticated": load.authenticated,
        "connect_seconds": round(connect_seconds, 2),
        "prepare_seconds": round(prepared, 2),
    }
    if args.idle:
        print(json.dumps(result), flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # hold until told to go
        for t in terminals:
            if t.transport is not None:
                t.transport.close()
        return result
    load.sending = True
    pacer = None
    if load.paced:
        pacer = asyncio.create_task(_pace(load, terminals, args.rate))
    else:
        for t in terminals:
            t.fill(loop.time())
    await asyncio.sleep(args.warmup)
    load.measuring = True
    measure_start = time.monotonic()
    await asyncio.sleep(args.seconds)
    load.measuring = False
    measured = time.monotonic() - measure_start
    load.sending = False
    if pacer is not None:
        pacer.cancel()
    load.draining = True
    # Let what is in flight be answered (it is counted as drained, not in the rate).
    deadline = time.monotonic() + 10
    while any(t.in_flight for t in terminals) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for t in terminals:
        if t.transport is not None:
            t.transport.close()
    await asyncio.sleep(0.1)
    lat = sorted(load.latencies)

    def pct(share: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(share * len(lat)))] * 1000, 1) if lat else None

    result.update(
        seconds=round(measured, 2),
        sent=load.sent,
        acked=load.acked,
        positions_per_s=round(load.acked / measured),
        p50_ms=pct(0.5),
        p99_ms=pct(0.99),
        errors=load.errors,
        lost_connections=load.lost,
        unanswered=sum(t.in_flight for t in terminals),
        total_acked=load.total_acked,
        ring_wrapped=load.wrapped,
    )
    return result


def load_generator(args: argparse.Namespace) -> None:
    import django
    import uvloop

    # Only for the codec and the street walker's imports; the load generator uses no database.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yunbao.settings_test")
    django.setup()

    result = uvloop.run(_load_main(args))
    print(json.dumps(result), flush=True)


# --- the orchestrator -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _loadgen(port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.fleet", "--loadgen", "--port", str(port), *extra],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _make_devices(count: int) -> list[int]:
    from yunbao.fleet.models import Device, DeviceKind, Protocol

    Device.objects.bulk_create(
        [
            Device(
                kind=DeviceKind.VEHICLE,
                protocol=Protocol.JT808,
                identifier=str(FIRST_PHONE + i),
                auth_code=AUTH_CODE,
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    return list(Device.objects.order_by("pk").values_list("pk", flat=True))


def raw_rate(
    device_ids: list[int], rows: int, batch: int, *, positions_only: bool = False
) -> dict[str, Any]:
    """The batched write the gateway does (`store.write_fixes`), straight from here, from
    empty tables: rows/s. `positions_only`: just the COPY/executemany into the history,
    without the latest-position upsert (the ceiling of the table itself)."""
    from django.db import connection, transaction

    from yunbao.fleet import store

    _empty_tables()
    rng = random.Random(3)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    fixes = [
        store.Fix(
            device_ids[i % len(device_ids)],
            now + dt.timedelta(seconds=i // len(device_ids)),
            now,
            23.2 + rng.random() / 10,
            113.3 + rng.random() / 10,
            rng.uniform(0, 40),
            rng.choice((0, 90, 180, 270)),
            12.0,
            None,
            True,
            0,
            0b11 | (1 << 18),
            None,
            round(rng.uniform(1000, 9000), 1),
            # As the gateway hands them over: JSON text (see gateway._jt808_attributes).
            store.JsonText(json.dumps({"sat": rng.randint(8, 16), "rssi": rng.randint(14, 31)})),
        )
        for i in range(rows)
    ]
    started = time.perf_counter()
    for start in range(0, rows, batch):
        chunk = fixes[start : start + batch]
        if not positions_only:
            store.write_fixes(chunk)
            continue
        with transaction.atomic():
            if connection.vendor == "postgresql":
                store.copy_positions(chunk)
            else:
                store.insert_positions(chunk)
    seconds = time.perf_counter() - started
    return {"rows": rows, "batch": batch, "rows_per_s": round(rows / seconds)}


def _empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE fleet_position, fleet_latestposition")
        else:
            cursor.execute("DELETE FROM fleet_position")
            cursor.execute("DELETE FROM fleet_latestposition")
    connection.close()


def run_database(args: argparse.Namespace, url: str | None) -> dict[str, Any]:
    """One database: set up, measure memory, end to end (single, batch), raw."""
    from bench.common import throwaway_database

    name = "postgres" if url else "sqlite"
    results: dict[str, Any] = {
        "database": name,
        # Other processes on the machine share its cores: say how busy it was.
        "load_average_before": round(os.getloadavg()[0], 2),
        "rate": args.rate,
        "batch_size": args.batch_size,
        "window": args.window,
    }
    with throwaway_database("fleet", url):
        from django.conf import settings
        from django.db import connection

        from yunbao.fleet.models import Position

        total = args.devices + args.idle_connections
        device_ids = _make_devices(total)
        connection.close()  # the gateway process has the database to itself meanwhile
        port, http_port = _free_port(), _free_port()
        env = {
            **os.environ,
            "SECRET_KEY": "bench-only",
            "DJANGO_SETTINGS_MODULE": "yunbao.settings",
            "FLEET_UNKNOWN_DEVICES": "refuse",
            "FLEET_MAX_CONNECTIONS": str(total + 100),
            "LOG_LEVEL": "WARNING",
        }
        log_path = ROOT / "var" / f"bench-fleet-gateway-{os.getpid()}.log"
        with log_path.open("w") as log_file:
            gateway = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "yunbao.cli",
                    "gateway",
                    "--jt808-port",
                    str(port),
                    "--osmand-port",
                    str(http_port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_port(port, gateway)
                results["memory"] = _idle_memory(args, gateway.pid, port)
                modes = [("single", 0, 0.0)]
                if args.rate:
                    modes.append(("paced", 0, args.rate))
                if args.batch_size:
                    modes.append(("batch", args.batch_size, 0.0))
                for mode, size, rate in modes:
                    # Every phase starts from empty tables: an index's insert cost grows
                    # with the table (much so on SQLite), so phases compare alike.
                    _empty_tables()
                    before = Position.objects.count()
                    connection.close()
                    proc = _loadgen(
                        port,
                        "--devices",
                        str(args.devices),
                        "--seconds",
                        str(args.seconds),
                        "--window",
                        str(args.window),
                        "--batch-size",
                        str(size),
                        # A 0x0704 frame holds several positions: fewer frames make the run.
                        "--ring",
                        str(args.ring if not size else max(4 * args.window, args.ring // 4)),
                        "--warmup",
                        str(args.warmup),
                        "--rate",
                        str(rate),
                    )
                    out, _err = proc.communicate(timeout=args.seconds + 300)
                    e2e = json.loads(out.strip().splitlines()[-1])
                    time.sleep(0.5)  # the last batch's commit
                    e2e["rows_in_table"] = Position.objects.count() - before
                    connection.close()
                    e2e["every_ack_stored"] = e2e["rows_in_table"] >= e2e["total_acked"]
                    results[mode] = e2e
            finally:
                gateway.terminate()
                try:
                    gateway.wait(60)
                except subprocess.TimeoutExpired:
                    gateway.kill()
                    gateway.wait()
        results["gateway_log_tail"] = log_path.read_text().splitlines()[-5:]
        log_path.unlink(missing_ok=True)
        # The raw rate from empty tables too, over as many rows as the single phase stored
        # (up to 600,000): in FLEET_BATCH_ROWS batches, and in batches of 10,000, about
        # what the gateway's batches grow to under full load (it writes what waits).
        rows = max(args.raw_rows, min(results["single"]["rows_in_table"], 600_000))
        ids = device_ids[: args.devices]
        small = settings.YUNBAO_FLEET_BATCH_ROWS
        results["raw"] = {
            "small": raw_rate(ids, rows, small),
            "large": raw_rate(ids, rows, max(small, 10_000)),
            "positions_only": raw_rate(ids, rows, max(small, 10_000), positions_only=True),
        }
        results["load_average_after"] = round(os.getloadavg()[0], 2)
        # The ratio against the better of the two full writes: the harder test.
        raw = max(results["raw"]["small"]["rows_per_s"], results["raw"]["large"]["rows_per_s"])
        results["raw"]["best_rows_per_s"] = raw
        results["ratio_single"] = round(results["single"]["positions_per_s"] / raw, 2)
        if "batch" in results:
            results["ratio_batch"] = round(results["batch"]["positions_per_s"] / raw, 2)
    return results


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the gateway exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the gateway did not start")


def _idle_memory(args: argparse.Namespace, pid: int, port: int) -> dict[str, Any]:
    """Gateway RSS before and after `idle_connections` authenticated, silent terminals."""
    count = args.idle_connections
    if not count:
        return {}
    time.sleep(0.5)
    before = _rss_kb(pid)
    proc = _loadgen(port, "--idle", "--devices", str(count), "--first", str(args.devices))
    assert proc.stdout is not None
    hello = json.loads(proc.stdout.readline())
    time.sleep(1.0)
    after = _rss_kb(pid)
    proc.communicate("", timeout=60)
    return {
        "idle_connections": hello["authenticated"],
        "rss_before_mb": round(before / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
        "kb_per_connection": round((after - before) / max(hello["authenticated"], 1), 1),
        "mb_per_1000": round((after - before) / 1024 / max(hello["authenticated"], 1) * 1000, 2),
    }


def _print(results: dict[str, Any]) -> None:
    db = results["database"]
    print(
        f"== fleet gateway on {db} (this machine's 1-minute load average "
        f"{results['load_average_before']} before, {results['load_average_after']} after)"
    )
    memory = results.get("memory") or {}
    if memory:
        print(
            f"  memory: {memory['mb_per_1000']} MB per 1,000 idle connections "
            f"(RSS {memory['rss_before_mb']} → {memory['rss_after_mb']} MB with "
            f"{memory['idle_connections']} idle)"
        )
    for mode, what in (
        ("single", "0x0200, one position a frame, as fast as acked"),
        ("paced", f"0x0200 paced at {results.get('rate')}/s per terminal"),
        ("batch", f"0x0704 batches of {results.get('batch_size')}"),
    ):
        e2e = results.get(mode)
        if not e2e:
            continue
        print(
            f"  end to end, {what}: {e2e['positions_per_s']:>7,} positions/s from "
            f"{e2e['authenticated']} terminals, ack p50 {e2e['p50_ms']} ms p99 {e2e['p99_ms']} ms; "
            f"acked in all {e2e['total_acked']:,}, rows in table {e2e['rows_in_table']:,} "
            f"({'every ack stored' if e2e['every_ack_stored'] else 'ACKS MISSING FROM TABLE'})"
        )
    raw = results["raw"]
    for key, what in (("small", "history + latest"), ("large", "history + latest")):
        line = raw[key]
        print(
            f"  raw write_fixes, batches of {line['batch']:,} ({what}): "
            f"{line['rows_per_s']:>7,} rows/s"
        )
    only = raw["positions_only"]
    print(
        f"  raw insert into the history alone, batches of {only['batch']:,}: "
        f"{only['rows_per_s']:>7,} rows/s"
    )
    print(f"  ratio end to end / best raw write_fixes: single {results['ratio_single']}", end="")
    print(f", batch {results['ratio_batch']}" if "ratio_batch" in results else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--window", type=int, default=8, help="locations in flight per terminal")
    parser.add_argument("--batch-size", type=int, default=10, help="positions per 0x0704; 0: none")
    parser.add_argument(
        "--rate",
        type=float,
        default=10,
        help="frames a second per terminal for the paced latency line (0: none)",
    )
    parser.add_argument(
        "--ring",
        type=int,
        default=1024,
        help="pre-encoded frames per terminal (their fix times increase; more than the run sends)",
    )
    parser.add_argument("--idle-connections", type=int, default=1000)
    parser.add_argument(
        "--raw-rows", type=int, default=200_000, help="at least; as many as the single phase stored"
    )
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    # The load generator's own options (run as a child process).
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 2 * args.window <= args.ring <= 0xFF00:
        parser.error("--ring must be between 2 × --window and 65280")
    if args.loadgen:
        load_generator(args)
        return
    if args.database == "both" and not args.child:
        # Django configures one database per process: one child per database.
        for database in ("sqlite", "postgres"):
            child = [a for a in (argv or sys.argv[1:]) if a != "both"]
            child = [a for a in child if a != "--database"]
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.fleet",
                    *child,
                    "--database",
                    database,
                    "--child",
                    "--json",
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            _print(json.loads(out.strip().splitlines()[-1]))
        return
    results = run_database(args, PG_URL if args.database == "postgres" else None)
    if args.json:
        print(json.dumps(results))
    else:
        _print(results)


if __name__ == "__main__":
    main()
