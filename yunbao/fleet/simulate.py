"""A simulated fleet (`yunbao simulate-fleet`): real JT/T 808 or OsmAnd traffic to a running
gateway, from vehicles driving along the demo district's streets.

The demo district is made of synthetic towns, each a rectangle tiled into square grids
(`yunbao.geo.synthetic`); the grid edges stand for the streets. Each simulated vehicle
starts at a random crossing, drives along an edge at a plausible speed for its kind, picks
a new street at every crossing (rarely turning back), and now and then stops for a while
(a sweeper at work, a red light). It reports R positions per second.

A JT/T 808 vehicle registers (0x0100), authenticates (0x0102) and sends locations (0x0200,
with mileage, satellites and signal items); after a lost connection it reconnects and
authenticates with the code it got, as real terminals do. An OsmAnd vehicle sends the
query variant over a keep-alive HTTP connection, as Traccar Client does. The ack latency is
the time from sending a position to its answer (0x8001 or HTTP 200), which the gateway
gives only once the position is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import h11

from yunbao.fleet import jt808
from yunbao.fleet.jt808 import Deframer, Message
from yunbao.geo.synthetic import metres_per_degree

UTC = dt.UTC
# Simulated terminals' phone numbers start here (a range no real SIM card uses).
FIRST_PHONE = 19_900_000_000
# A JT/T 808 2019 terminal's protocol-version byte.
VERSION_2019 = 1
# Latency samples kept for the percentiles (a uniform sample beyond that).
MAX_SAMPLES = 200_000
_STATUS = 0b11 | (1 << 18) | (1 << 19)  # ACC on, positioned, GPS and BeiDou


@dataclass(frozen=True)
class Streets:
    """A town's street lattice: the latitudes of its east-west streets and the longitudes
    of its north-south ones, south to north and west to east."""

    name: str
    lats: tuple[float, ...]
    lons: tuple[float, ...]


def _lattice(
    name: str, south: float, west: float, rows: int, cols: int, cell_m: float = 100
) -> Streets:
    # The same arithmetic as `build_town`, so the streets are the grids' edges exactly.
    per_lat, _per_lon = metres_per_degree(south)
    dlat = cell_m / per_lat
    _per_lat, per_lon = metres_per_degree(south + rows * dlat / 2)
    dlon = cell_m / per_lon
    return Streets(
        name,
        tuple(round(south + i * dlat, 9) for i in range(rows + 1)),
        tuple(round(west + j * dlon, 9) for j in range(cols + 1)),
    )


def demo_streets() -> list[Streets]:
    """The streets of the towns in the database (their grids' edges), or of the demo
    district's towns when the database has none (a simulator run before `yunbao demo`)."""
    from yunbao.geo.models import Area, Level

    towns = []
    for street in Area.objects.filter(level=Level.STREET).order_by("code"):
        edges = Area.objects.filter(level=Level.GRID, path__startswith=street.path).values_list(
            "min_lat", "max_lat", "min_lon", "max_lon"
        )
        lats: set[float] = set()
        lons: set[float] = set()
        for min_lat, max_lat, min_lon, max_lon in edges:
            lats.update((min_lat, max_lat))
            lons.update((min_lon, max_lon))
        if len(lats) >= 2 and len(lons) >= 2:
            towns.append(Streets(street.code, tuple(sorted(lats)), tuple(sorted(lons))))
    if towns:
        return towns
    from yunbao.web.demo import TOWNS

    return [
        _lattice(code, south, west, rows, cols)
        for code, _zh, _en, south, west, rows, cols, _communities, _names in TOWNS
    ]


# Directions on the lattice: (d row, d column, course in degrees).
_DIRECTIONS = ((1, 0, 0), (0, 1, 90), (-1, 0, 180), (0, -1, 270))


class Vehicle:
    """Drives along one town's streets; `advance(seconds)` moves it on."""

    def __init__(self, streets: Streets, rng: random.Random, speed_kmh: float) -> None:
        self.streets = streets
        self.rng = rng
        self.cruise = speed_kmh
        self.row = rng.randrange(len(streets.lats))
        self.col = rng.randrange(len(streets.lons))
        self.direction = self._choose(None)
        self.along = 0.0  # metres from the crossing (row, col) towards the next one
        self.waiting = 0.0  # seconds left standing still
        self.odometer_km = rng.uniform(1000, 90_000)
        per_lat, per_lon = metres_per_degree(streets.lats[0])
        self._per = (per_lat, per_lon)

    def _choose(self, previous: int | None) -> int:
        options = []
        for index, (dr, dc, _course) in enumerate(_DIRECTIONS):
            row, col = self.row + dr, self.col + dc
            if 0 <= row < len(self.streets.lats) and 0 <= col < len(self.streets.lons):
                options.append(index)
        if previous is not None and len(options) > 1:
            back = (previous + 2) % 4
            if back in options and self.rng.random() > 0.05:
                options.remove(back)
        return self.rng.choice(options)

    def _edge_m(self) -> float:
        dr, dc, _course = _DIRECTIONS[self.direction]
        lats, lons = self.streets.lats, self.streets.lons
        if dr:
            return abs(lats[self.row + dr] - lats[self.row]) * self._per[0]
        return abs(lons[self.col + dc] - lons[self.col]) * self._per[1]

    @property
    def speed_kmh(self) -> float:
        return 0.0 if self.waiting > 0 else self.cruise

    @property
    def course(self) -> int:
        return _DIRECTIONS[self.direction][2]

    def advance(self, seconds: float) -> None:
        if self.waiting > 0:
            self.waiting = max(0.0, self.waiting - seconds)
            return
        metres = self.cruise / 3.6 * seconds
        self.odometer_km += metres / 1000
        while metres > 0:
            left = self._edge_m() - self.along
            if metres < left:
                self.along += metres
                return
            metres -= left
            dr, dc, _course = _DIRECTIONS[self.direction]
            self.row += dr
            self.col += dc
            self.along = 0.0
            self.direction = self._choose(self.direction)
            if self.rng.random() < 0.08:
                self.waiting = self.rng.uniform(5, 40)
                return

    def position(self) -> tuple[float, float]:
        dr, dc, _course = _DIRECTIONS[self.direction]
        lats, lons = self.streets.lats, self.streets.lons
        lat, lon = lats[self.row], lons[self.col]
        edge = self._edge_m()
        if edge > 0 and self.along:
            share = self.along / edge
            lat += (lats[self.row + dr] - lat) * share if dr else 0.0
            lon += (lons[self.col + dc] - lon) * share if dc else 0.0
        return lat, lon


@dataclass
class SimulationConfig:
    host: str = "127.0.0.1"
    port: int = 5015
    protocol: str = "jt808"
    devices: int = 10
    rate: float = 1.0  # positions per second per device
    duration: float | None = None  # seconds; None: until stopped
    version: int = 2013
    first_phone: int = FIRST_PHONE
    seed: int = 1
    progress_seconds: float = 5.0
    timeout: float = 10.0  # seconds to wait for an answer before reconnecting


@dataclass
class Summary:
    devices: int = 0
    connected: int = 0
    sent: int = 0
    acked: int = 0
    refused: int = 0  # answers other than OK (and HTTP errors)
    errors: int = 0  # connection failures and timeouts
    reconnects: int = 0
    seconds: float = 0.0
    last_error: str = ""
    samples: list[float] = field(default_factory=list, repr=False)
    _seen: int = field(default=0, repr=False)

    def latency(self, seconds: float, rng: random.Random) -> None:
        """Record one ack latency (a uniform sample once MAX_SAMPLES are held)."""
        self._seen += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(seconds)
        else:
            slot = rng.randrange(self._seen)
            if slot < MAX_SAMPLES:
                self.samples[slot] = seconds

    def percentile(self, share: float) -> float | None:
        """The ack latency (seconds) below which `share` of the answers came."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self) -> str:
        p50, p99 = self.percentile(0.5), self.percentile(0.99)
        rate = self.acked / self.seconds if self.seconds else 0.0
        return (
            f"{self.seconds:.0f} s: {self.connected}/{self.devices} connected, "
            f"{self.sent} sent, {self.acked} acked ({rate:.0f}/s), {self.refused} refused, "
            f"{self.errors} errors, {self.reconnects} reconnects, ack latency "
            f"p50 {_ms(p50)} p99 {_ms(p99)}"
            + (f" (last error: {self.last_error})" if self.last_error else "")
        )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


class Refused(Exception):
    """The gateway refused the device (unknown, inactive, wrong code): stop that device."""


class _Device:
    """One simulated vehicle with its protocol client."""

    def __init__(
        self,
        index: int,
        config: SimulationConfig,
        vehicle: Vehicle,
        summary: Summary,
        rng: random.Random,
    ) -> None:
        self.index = index
        self.config = config
        self.vehicle = vehicle
        self.summary = summary
        self.rng = rng
        self.phone = str(config.first_phone + index)
        self.version = None if config.version == 2013 else VERSION_2019
        self.auth_code = ""
        self.serial = 0

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    async def run(self, deadline: float | None) -> None:
        interval = 1.0 / self.config.rate
        # Spread the devices over one interval instead of sending all at once.
        await asyncio.sleep(self.rng.uniform(0, min(interval, 5.0)))
        delay = 0.5
        first = True
        while deadline is None or time.monotonic() < deadline:
            if not first:
                self.summary.reconnects += 1
            first = False
            try:
                if self.config.protocol == "jt808":
                    await self.jt808(deadline, interval)
                else:
                    await self.osmand(deadline, interval)
                return
            except Refused:
                return
            except (OSError, TimeoutError, asyncio.IncompleteReadError, jt808.FrameError) as exc:
                self.summary.errors += 1
                self.summary.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # --- JT/T 808 ---

    async def jt808(self, deadline: float | None, interval: float) -> None:
        cfg = self.config
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(cfg.host, cfg.port), cfg.timeout
        )
        deframer = jt808.Deframer()
        inbox: list[jt808.Message] = []

        async def receive(msg_id: int) -> jt808.Message:
            while True:
                while inbox:
                    message = inbox.pop(0)
                    if message.header.msg_id == msg_id:
                        return message
                data = await reader.read(4096)
                if not data:
                    raise ConnectionResetError("gateway closed the connection")
                inbox.extend(jt808.decode_frame(f) for f in deframer.feed(data))

        try:
            if not self.auth_code:
                await self._register(writer, receive)
            serial = self.next_serial()
            auth = jt808.encode_authenticate(
                jt808.Authenticate(self.auth_code, "86" + self.phone.zfill(13), "sim-1.0"),
                self.version,
            )
            writer.write(
                jt808.encode_frame(
                    jt808.AUTHENTICATE, self.phone, serial, auth, version=self.version
                )
            )
            reply = jt808.decode_general_reply(
                (await asyncio.wait_for(receive(jt808.PLATFORM_REPLY), cfg.timeout)).body
            )
            if reply.result != jt808.OK:
                self.auth_code = ""  # register again next time
                self.summary.refused += 1
                raise Refused(f"authentication refused ({reply.result})")
            self.summary.connected += 1
            try:
                await self._report_jt808(reader, writer, deframer, inbox, deadline, interval)
            finally:
                self.summary.connected -= 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _register(self, writer: asyncio.StreamWriter, receive: Callable[[int], Any]) -> None:
        plate = f"粤A{self.index % 100000:05d}"
        body = jt808.encode_register(
            jt808.Register(44, 111, "YUNBA", "SIM-808", f"S{self.index % 1000000:06d}", 1, plate),
            self.version,
        )
        writer.write(
            jt808.encode_frame(
                jt808.REGISTER, self.phone, self.next_serial(), body, version=self.version
            )
        )
        message = await asyncio.wait_for(receive(jt808.REGISTER_REPLY), self.config.timeout)
        reply = jt808.decode_register_reply(message.body)
        if reply.result != 0 or not reply.auth_code:
            self.summary.refused += 1
            raise Refused(f"registration refused ({reply.result})")
        self.auth_code = reply.auth_code

    def _location_frame(self, serial: int) -> bytes:
        vehicle = self.vehicle
        lat, lon = vehicle.position()
        location = jt808.Location(
            alarm=0,
            status=_STATUS,
            lat=lat,
            lon=lon,
            altitude=12,
            speed_kmh=round(vehicle.speed_kmh, 1),
            course=vehicle.course,
            time=dt.datetime.now(UTC).replace(microsecond=0),
            mileage_km=round(vehicle.odometer_km, 1),
            satellites=self.rng.randint(8, 16),
            signal=self.rng.randint(14, 31),
        )
        return jt808.encode_frame(
            jt808.LOCATION,
            self.phone,
            serial,
            jt808.encode_location(location),
            version=self.version,
        )

    async def _report_jt808(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deframer: Deframer,
        inbox: list[Message],
        deadline: float | None,
        interval: float,
    ) -> None:
        sent_at: dict[int, float] = {}
        summary = self.summary

        def answered(message: jt808.Message) -> None:
            if message.header.msg_id != jt808.PLATFORM_REPLY:
                return
            reply = jt808.decode_general_reply(message.body)
            started = sent_at.pop(reply.serial, None)
            if started is None or reply.msg_id != jt808.LOCATION:
                return
            if reply.result == jt808.OK:
                summary.acked += 1
                summary.latency(time.monotonic() - started, self.rng)
            else:
                summary.refused += 1

        async def read_answers() -> None:
            for message in inbox:
                answered(message)
            inbox.clear()
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionResetError("gateway closed the connection")
                for frame in deframer.feed(data):
                    answered(jt808.decode_frame(frame))

        reading = asyncio.create_task(read_answers())
        try:
            last = time.monotonic()
            next_at = last
            while deadline is None or next_at < deadline:
                if reading.done():
                    reading.result()  # raises what ended it
                now = time.monotonic()
                self.vehicle.advance(now - last)
                last = now
                # A position unanswered for too long: the connection is stuck.
                if sent_at and now - min(sent_at.values()) > self.config.timeout:
                    raise TimeoutError("no answer from the gateway")
                serial = self.next_serial()
                sent_at[serial] = now
                writer.write(self._location_frame(serial))
                summary.sent += 1
                await writer.drain()
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            # Wait a moment for the last answers.
            end = time.monotonic() + min(self.config.timeout, 2.0)
            while sent_at and time.monotonic() < end and not reading.done():
                await asyncio.sleep(0.01)
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading

    # --- OsmAnd ---

    async def osmand(self, deadline: float | None, interval: float) -> None:
        cfg = self.config
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(cfg.host, cfg.port), cfg.timeout
        )
        summary = self.summary
        client = h11.Connection(h11.CLIENT)
        summary.connected += 1
        try:
            last = time.monotonic()
            next_at = last
            while deadline is None or next_at < deadline:
                now = time.monotonic()
                self.vehicle.advance(now - last)
                last = now
                lat, lon = self.vehicle.position()
                query = urlencode(
                    {
                        "id": self.phone,
                        "lat": f"{lat:.7f}",
                        "lon": f"{lon:.7f}",
                        "timestamp": int(time.time()),
                        "speed": f"{self.vehicle.speed_kmh / 1.852:.2f}",  # knots
                        "bearing": self.vehicle.course,
                        "altitude": 12,
                        "accuracy": self.rng.randint(3, 15),
                        "batt": self.rng.randint(20, 100),
                    }
                )
                request = h11.Request(
                    method="GET",
                    target=f"/?{query}",
                    headers=[("host", f"{cfg.host}:{cfg.port}"), ("user-agent", "yunbao-sim")],
                )
                writer.write(client.send(request) + client.send(h11.EndOfMessage()))
                summary.sent += 1
                status = await asyncio.wait_for(self._response(client, reader), cfg.timeout)
                if status == 200:
                    summary.acked += 1
                    summary.latency(time.monotonic() - now, self.rng)
                else:
                    summary.refused += 1
                    if status in (400, 404):
                        raise Refused(f"HTTP {status}")
                client.start_next_cycle()
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            summary.connected -= 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    @staticmethod
    async def _response(client: h11.Connection, reader: asyncio.StreamReader) -> int:
        status = 0
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                client.receive_data(data)
                if not data and client.their_state is not h11.DONE:
                    raise ConnectionResetError("gateway closed the connection")
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                return status
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("gateway closed the connection")


_CRUISE = (12.0, 40.0)  # km/h: a sweeper at work to a patrol car in town


async def simulate(
    config: SimulationConfig,
    streets: list[Streets],
    progress: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Summary:
    """Run the fleet until `config.duration` passes or `stop` is set; returns the summary."""
    if config.protocol not in ("jt808", "osmand"):
        raise ValueError(f"protocol must be jt808 or osmand: {config.protocol}")
    if config.devices < 1 or not config.rate > 0:
        raise ValueError("devices must be ≥ 1 and the rate > 0")
    if not streets:
        raise ValueError("no streets to drive along")
    rng = random.Random(config.seed)  # noqa: S311 (a simulation, nothing secret)
    summary = Summary(devices=config.devices)
    started = time.monotonic()
    deadline = None if config.duration is None else started + config.duration
    devices = [
        _Device(
            index,
            config,
            Vehicle(
                streets[index % len(streets)],
                random.Random(rng.random()),  # noqa: S311
                rng.uniform(*_CRUISE),
            ),
            summary,
            random.Random(rng.random()),  # noqa: S311
        )
        for index in range(config.devices)
    ]
    tasks = [asyncio.create_task(device.run(deadline)) for device in devices]
    stopper: asyncio.Task[Any] | None = (
        asyncio.create_task(stop.wait()) if stop is not None else None
    )
    shown = started
    try:
        while True:
            pending: list[asyncio.Task[Any]] = [task for task in tasks if not task.done()]
            if not pending:
                break
            if stopper is not None:
                pending.append(stopper)
            await asyncio.wait(
                pending, timeout=config.progress_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            if stopper is not None and stopper.done():
                break
            now = time.monotonic()
            if progress is not None and now - shown >= config.progress_seconds:
                summary.seconds = now - started
                progress(summary.line())
                shown = now
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if stopper is not None:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
    summary.seconds = time.monotonic() - started
    return summary
