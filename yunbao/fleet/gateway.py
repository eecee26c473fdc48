"""The telemetry gateway (`yunbao gateway`): JT/T 808 terminals over TCP, OsmAnd trackers
over HTTP, positions into the database in batches. One asyncio process.

How a position travels:

1. A connection's protocol object (`Jt808Connection`, `OsmandConnection`; asyncio
   protocols, not streams, which would cost a task and several awaits per message) parses
   what arrived and turns each position into a `store.Fix`, together with the answer it
   needs — the 0x8001 frame, or the HTTP 200 — and hands both to the `Gateway`.
2. The gateway appends them to the pending batch. A flusher task writes the batch on the
   one database thread (Django connections belong to a thread) when `batch_rows` are
   waiting or `flush_seconds` after the first of them arrived, while the event loop goes
   on parsing the next batch.
3. Only after the transaction committed are the answers sent: a terminal that got its
   0x8001 can forget the position, because it is in the table. A failed write (database
   down) acknowledges nothing; the batch is kept and retried with growing pauses, and the
   terminals, which retransmit what is not acknowledged, lose nothing either.

Bounds everywhere, so no client and no outage can exhaust memory: a frame is at most
`jt808.MAX_FRAME` bytes (more closes the connection), an HTTP request at most
`MAX_HTTP_HEADER` + `MAX_HTTP_BODY`; a connection stops being read while `max_unacked` of
its positions wait for their answer; every connection stops being read while `max_pending`
positions wait for the database (back-pressure: TCP's window then slows the terminals);
at most `max_connections` connections; a silent connection is closed after `idle_timeout`.
Malformed input is logged (the first few per connection) and answered BAD where the header
can be read; a connection that sends mostly garbage is closed. None of it reaches the
positions already accepted from other frames or other connections.

SIGTERM/SIGINT stop gracefully: stop accepting, stop reading, write and acknowledge what is
pending, close. A position is acknowledged only once stored, so a restart (or a crash)
loses nothing that was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl

import h11
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection

from yunbao.fleet import jt808, osmand, partitions, store
from yunbao.fleet.models import Device, Protocol
from yunbao.fleet.registry import Known, Refused, Registry

log = logging.getLogger(__name__)

UTC = dt.UTC

# Per-connection guards against garbage (a terminal never sends these).
MAX_BAD_FRAMES = 8  # malformed frames in a row before the connection is closed
MAX_GARBAGE = 4096  # bytes before the first flag
MAX_SPLIT_MESSAGES = 8  # split messages being reassembled at once
LOG_PER_CONNECTION = 5  # problems logged at WARNING per connection; the rest at DEBUG
# HTTP (OsmAnd) requests: a Traccar request is a few hundred bytes.
MAX_HTTP_HEADER = 16 * 1024
MAX_HTTP_BODY = 64 * 1024
MAX_QUERY_FIELDS = 200
# A failed write is retried after RETRY_FIRST seconds, doubling up to RETRY_MAX.
RETRY_FIRST = 0.1
RETRY_MAX = 5.0
# Seconds a graceful stop waits for the pending positions to be stored.
STOP_TIMEOUT = 30.0
STATS_SECONDS = 60.0

# Reasons a connection is not being read (a bit each; read again when none is left).
HOLD_GLOBAL = 1  # the whole gateway waits for the database
HOLD_UNACKED = 2  # this connection has too many positions waiting for their answer
HOLD_BUSY = 4  # this connection waits for a device lookup (register, authenticate)
HOLD_STOP = 8  # the gateway is stopping

LOGOUT = 0x0003  # terminal logout (2019; many 2013 terminals send it too)


@dataclass
class GatewayConfig:
    """The gateway's knobs; `from_settings` reads them from FLEET_* settings."""

    host: str = "127.0.0.1"
    jt808_port: int = 5015
    osmand_port: int = 5055
    unknown_devices: str = "refuse"
    idle_timeout: float = 300.0
    max_connections: int = 10_000
    batch_rows: int = 2000
    flush_seconds: float = 0.05
    max_pending: int = 20_000
    max_unacked: int = 256
    max_frame: int = jt808.MAX_FRAME

    @classmethod
    def from_settings(cls, **overrides: Any) -> GatewayConfig:
        config = cls(
            host=settings.YUNBAO_FLEET_GATEWAY_HOST,
            jt808_port=settings.YUNBAO_FLEET_JT808_PORT,
            osmand_port=settings.YUNBAO_FLEET_OSMAND_PORT,
            unknown_devices=settings.YUNBAO_FLEET_UNKNOWN_DEVICES,
            idle_timeout=settings.YUNBAO_FLEET_IDLE_TIMEOUT,
            max_connections=settings.YUNBAO_FLEET_MAX_CONNECTIONS,
            batch_rows=settings.YUNBAO_FLEET_BATCH_ROWS,
            flush_seconds=settings.YUNBAO_FLEET_FLUSH_MS / 1000,
            max_pending=settings.YUNBAO_FLEET_MAX_PENDING,
            max_unacked=settings.YUNBAO_FLEET_MAX_UNACKED,
        )
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, value)
        if config.batch_rows < 1 or config.max_pending < config.batch_rows:
            raise ValueError("FLEET_BATCH_ROWS must be ≥ 1 and FLEET_MAX_PENDING ≥ it")
        if config.max_unacked < 1 or config.max_connections < 1:
            raise ValueError("FLEET_MAX_UNACKED and FLEET_MAX_CONNECTIONS must be ≥ 1")
        return config


@dataclass
class Stats:
    """Counters for the minute's log line and for tests."""

    stored: int = 0
    connections: int = 0
    refused: int = 0
    malformed: int = 0
    write_failures: int = 0
    writes: int = 0  # batches stored
    write_seconds: float = 0.0  # time spent storing them
    last_stored: int = field(default=0, repr=False)
    last_time: float = field(default=0.0, repr=False)
    last_writes: int = field(default=0, repr=False)
    last_write_seconds: float = field(default=0.0, repr=False)


class _Connection(asyncio.Protocol):
    """What both protocols share: registration with the gateway, holds, idle time."""

    __slots__ = ("closed", "gateway", "hold", "last", "logged", "peer", "transport", "unacked")

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.last = 0.0
        self.hold = 0  # HOLD_* bits: why the connection is not read
        self.unacked = 0  # positions waiting for their answer
        self.logged = 0
        self.closed = False

    def _start(self, transport: asyncio.BaseTransport) -> bool:
        gw = self.gateway
        self.peer = _peer(transport)
        if gw.stopping or len(gw.connections) >= gw.config.max_connections:
            log.warning(
                "refused connection from %s: %d connections open", self.peer, len(gw.connections)
            )
            gw.stats.refused += 1
            cast(asyncio.Transport, transport).abort()
            self.closed = True
            return False
        # uvloop's transports do not derive from asyncio's classes, they only behave alike.
        self.transport = cast(asyncio.Transport, transport)
        self.last = gw.loop.time()
        gw.connections.add(self)
        gw.stats.connections += 1
        if gw.held_globally:
            self.add_hold(HOLD_GLOBAL)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self.gateway.connections.discard(self)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def add_hold(self, reason: int) -> None:
        if not self.hold and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self.hold |= reason

    def drop_hold(self, reason: int) -> None:
        if not self.hold & reason:
            return
        self.hold &= ~reason
        if not self.hold and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def problem(self, message: str, *args: Any) -> None:
        """Log a problem with this connection: the first few at WARNING, the rest at DEBUG
        (a broken terminal must not flood the log)."""
        self.logged += 1
        level = logging.WARNING if self.logged <= LOG_PER_CONNECTION else logging.DEBUG
        log.log(level, "%s: " + message, self.peer, *args)

    def give_up(self, message: str, *args: Any) -> None:
        """Close the connection because of what it sent; always logged."""
        log.warning("%s: closing: " + message, self.peer, *args)
        self.close()

    def stored(self, acks: list[Any], count: int) -> None:
        raise NotImplementedError

    def not_stored(self) -> None:
        """Its positions could not be stored (its device was deleted): close."""
        self.close()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


# --- JT/T 808 ---------------------------------------------------------------------------------


# The JSON text of the attribute sets seen lately, by (fuel, satellites, signal): most
# terminals send just those items (and the mileage, which has a column), in few
# combinations, so most rows reuse a text instead of serialising a dict.
_ATTRIBUTE_TEXTS: dict[tuple[float | None, int | None, int | None], store.JsonText | None] = {}
_ATTRIBUTE_TEXTS_LIMIT = 4096


def _jt808_fix(device_id: int, loc: jt808.Location, now: dt.datetime) -> store.Fix:
    """The row a JT/T 808 location becomes (a course of 360 or more means "unknown")."""
    return store.Fix(
        device_id,
        loc.time,
        now,
        loc.lat,
        loc.lon,
        loc.speed_kmh,
        loc.course if loc.course < 360 else None,
        float(loc.altitude),
        None,
        loc.valid,
        loc.alarm,
        loc.status,
        None,
        loc.mileage_km,
        _jt808_attributes(loc) if loc.extras else None,
    )


def _jt808_attributes(loc: jt808.Location) -> store.JsonText | None:
    """The extra items worth keeping, as JSON text (the mileage has its own column); an
    item with no typed field (or a typed one of the wrong size) is kept as hex."""
    extras = loc.extras
    typed = (
        (loc.mileage_km is not None)
        + (loc.fuel_l is not None)
        + (loc.satellites is not None)
        + (loc.signal is not None)
    )
    key = (loc.fuel_l, loc.satellites, loc.signal)
    if typed == len(extras):
        text = _ATTRIBUTE_TEXTS.get(key, False)
        if text is not False:
            return text  # type: ignore[return-value]
    attributes: dict[str, Any] = {}
    if loc.fuel_l is not None:
        attributes["fuel"] = loc.fuel_l
    if loc.satellites is not None:
        attributes["sat"] = loc.satellites
    if loc.signal is not None:
        attributes["rssi"] = loc.signal
    if typed != len(extras):
        has = {
            0x01: loc.mileage_km is not None,
            0x02: loc.fuel_l is not None,
            0x30: loc.signal is not None,
            0x31: loc.satellites is not None,
        }
        for item, value in extras.items():
            if not has.get(item, False):
                attributes[f"x{item:02x}"] = value.hex()
    text = store.JsonText(json.dumps(attributes, separators=(",", ":"))) if attributes else None
    if typed == len(extras):
        if len(_ATTRIBUTE_TEXTS) >= _ATTRIBUTE_TEXTS_LIMIT:
            _ATTRIBUTE_TEXTS.clear()
        _ATTRIBUTE_TEXTS[key] = text
    return text


class Jt808Connection(_Connection):
    """One terminal's TCP connection."""

    __slots__ = ("backlog", "bad", "deframer", "device", "parts", "phone", "reassembler", "serial")

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.deframer = jt808.Deframer(gateway.config.max_frame)
        self.reassembler: jt808.Reassembler | None = None
        # Headers of the packets of split messages being reassembled (each packet is
        # answered once the whole message is stored).
        self.parts: dict[tuple[int, int, int], list[jt808.Header]] | None = None
        self.device: Known | None = None
        self.phone = ""
        self.serial = 0
        self.bad = 0
        # Frames that arrived while a device lookup was under way, handled after it.
        self.backlog: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._start(transport)

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def reply(self, header: jt808.Header, result: int, parts: list[jt808.Header] | None) -> None:
        for h in parts or (header,):
            self.send(jt808.platform_reply(h, result, self.next_serial()))

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last = self.gateway.loop.time()
        try:
            frames = self.deframer.feed(data)
        except jt808.OversizeFrame as exc:
            self.gateway.stats.malformed += 1
            # Handle the good frames of the same read before closing, so what a terminal
            # sent next to the oversized frame is not lost.
            if exc.frames:
                self.process(exc.frames)
            self.give_up("%s", exc)
            return
        if self.deframer.dropped > MAX_GARBAGE:
            self.gateway.stats.malformed += 1
            self.give_up("%d bytes of garbage", self.deframer.dropped)
            return
        if frames:
            self.process(frames)

    def process(self, frames: list[bytes]) -> None:
        now = dt.datetime.now(UTC)
        for i, frame in enumerate(frames):
            if self.closed:
                return
            if self.backlog is not None:
                self.backlog.extend(frames[i:])
                return
            try:
                message = jt808.decode_frame(frame)
            except jt808.FrameError as exc:
                self.bad_frame(frame, exc)
                continue
            self.bad = 0
            self.handle(message, now)

    def bad_frame(self, frame: bytes, exc: Exception) -> None:
        self.gateway.stats.malformed += 1
        self.bad += 1
        header = jt808.peek_header(frame)
        if header is not None:
            self.problem("bad frame 0x%04X #%d: %s", header.msg_id, header.serial, exc)
            self.reply(header, jt808.BAD, None)
        else:
            self.problem("unreadable frame of %d bytes: %s", len(frame), exc)
        if self.bad >= MAX_BAD_FRAMES:
            self.give_up("%d malformed frames in a row", self.bad)

    def handle(self, message: jt808.Message, now: dt.datetime) -> None:
        header = message.header
        parts = None
        if header.packet_total is not None:
            whole = self.reassemble(message)
            if whole is None:
                return
            message, parts = whole
            header = message.header
        msg_id = header.msg_id
        if header.encrypted:
            self.problem("encrypted message 0x%04X not supported", msg_id)
            self.reply(header, jt808.UNSUPPORTED, parts)
            return
        try:
            if msg_id == jt808.LOCATION:
                self.location(message, now, parts)
            elif msg_id == jt808.BATCH_LOCATION:
                self.batch(message, now, parts)
            elif msg_id == jt808.HEARTBEAT:
                self.reply(header, jt808.OK, parts)
            elif msg_id == jt808.TERMINAL_REPLY:
                pass  # the terminal acknowledging something we sent: nothing to do
            elif msg_id == jt808.AUTHENTICATE:
                self.authenticate(message, parts)
            elif msg_id == jt808.REGISTER:
                self.register(message, parts)
            elif msg_id == LOGOUT:
                self.reply(header, jt808.OK, parts)
                self.device = None
            else:
                self.reply(header, jt808.UNSUPPORTED, parts)
        except jt808.FrameError as exc:
            self.gateway.stats.malformed += 1
            self.problem("bad body of 0x%04X #%d: %s", msg_id, header.serial, exc)
            self.reply(header, jt808.BAD, parts)

    def reassemble(self, message: jt808.Message) -> tuple[jt808.Message, list[jt808.Header]] | None:
        header = message.header
        if self.reassembler is None:
            self.reassembler = jt808.Reassembler(max_pending=MAX_SPLIT_MESSAGES)
            self.parts = {}
        assert self.parts is not None
        first = (header.serial - (header.packet_no or 1) + 1) & 0xFFFF
        key = (header.msg_id, header.packet_total or 1, first)
        try:
            whole = self.reassembler.add(message)
        except jt808.FrameError as exc:
            self.gateway.stats.malformed += 1
            self.problem("bad packet of 0x%04X: %s", header.msg_id, exc)
            self.reply(header, jt808.BAD, None)
            return None
        headers = self.parts.setdefault(key, [])
        headers.append(header)
        if whole is None:
            while len(self.parts) > MAX_SPLIT_MESSAGES:
                del self.parts[next(iter(self.parts))]
            return None
        return whole, self.parts.pop(key, [header])

    def authorised(self, header: jt808.Header, parts: list[jt808.Header] | None) -> Known | None:
        device = self.device
        if device is not None and header.phone == self.phone:
            return device
        self.gateway.stats.refused += 1
        self.problem(
            "0x%04X from terminal %s before it registered or authenticated",
            header.msg_id,
            header.phone,
        )
        self.reply(header, jt808.FAIL, parts)
        return None

    def location(
        self, message: jt808.Message, now: dt.datetime, parts: list[jt808.Header] | None
    ) -> None:
        header = message.header
        device = self.authorised(header, parts)
        if device is None:
            return
        loc = jt808.decode_location(message.body)
        if not jt808.coordinates_ok(loc.lat, loc.lon):
            self.gateway.stats.malformed += 1
            self.problem("impossible coordinates %s, %s from %s", loc.lat, loc.lon, header.phone)
            self.reply(header, jt808.BAD, parts)
            return
        fix = _jt808_fix(device.id, loc, now)
        if parts is None:
            ack = jt808.platform_reply(header, jt808.OK, self.next_serial())
        else:
            ack = b"".join(jt808.platform_reply(h, jt808.OK, self.next_serial()) for h in parts)
        self.unacked += 1
        if self.unacked >= self.gateway.config.max_unacked:
            self.add_hold(HOLD_UNACKED)
        self.gateway.submit_one(self, fix, ack)

    def batch(
        self, message: jt808.Message, now: dt.datetime, parts: list[jt808.Header] | None
    ) -> None:
        header = message.header
        device = self.authorised(header, parts)
        if device is None:
            return
        _kind, locations = jt808.decode_batch(message.body)
        fixes = []
        for loc in locations:
            if not jt808.coordinates_ok(loc.lat, loc.lon):
                # Sending the batch again would not mend them: store the rest, answer OK.
                self.gateway.stats.malformed += 1
                self.problem("impossible coordinates %s, %s in a batch", loc.lat, loc.lon)
                continue
            fixes.append(_jt808_fix(device.id, loc, now))
        if not fixes:
            self.reply(header, jt808.BAD if locations else jt808.OK, parts)
            return
        ack = b"".join(
            jt808.platform_reply(h, jt808.OK, self.next_serial()) for h in parts or (header,)
        )
        self.unacked += len(fixes)
        if self.unacked >= self.gateway.config.max_unacked:
            self.add_hold(HOLD_UNACKED)
        self.gateway.submit(self, fixes, ack)

    def stored(self, acks: list[Any], count: int) -> None:
        self.unacked -= count
        if self.transport is not None and not self.closed:
            self.transport.write(acks[0] if len(acks) == 1 else b"".join(acks))
            if self.hold & HOLD_UNACKED and self.unacked < self.gateway.config.max_unacked // 2:
                self.drop_hold(HOLD_UNACKED)

    # Register and authenticate need the database (the registry's cache may not know the
    # terminal): the lookup runs on the database thread while this connection's further
    # frames wait in `backlog`, so they are handled in order, after it.

    def register(self, message: jt808.Message, parts: list[jt808.Header] | None) -> None:
        header = message.header
        reg = jt808.decode_register(message.body, header.version)
        details = {
            "province": reg.province,
            "city": reg.city,
            "maker": reg.maker,
            "model": reg.model,
            "terminal_id": reg.terminal_id,
            "plate_colour": reg.plate_colour,
            "jt808_version": 2013 if header.version is None else 2019,
        }
        registry = self.gateway.registry

        def work() -> Known:
            known = registry.resolve(
                Protocol.JT808, header.phone, peer=self.peer, details=details, plate=reg.plate
            )
            registry.update_details(known, details)
            return known

        def done(known: Known | None, refused: Refused | None) -> None:
            if known is None:
                # 4: no such terminal (unknown and not registered, or inactive).
                self.gateway.stats.refused += 1
                result, code = 4, ""
            else:
                self.device, self.phone = known, header.phone
                result, code = 0, known.auth_code
            body = jt808.encode_register_reply(jt808.RegisterReply(header.serial, result, code))
            self.send(
                jt808.encode_frame(
                    jt808.REGISTER_REPLY,
                    header.phone,
                    self.next_serial(),
                    body,
                    version=header.version,
                )
            )
            if parts and len(parts) > 1:
                for h in parts[1:]:
                    self.send(jt808.platform_reply(h, jt808.OK, self.next_serial()))

        self.lookup(work, done)

    def authenticate(self, message: jt808.Message, parts: list[jt808.Header] | None) -> None:
        header = message.header
        auth = jt808.decode_authenticate(message.body, header.version)
        registry = self.gateway.registry
        known = registry.cached(Protocol.JT808, header.phone)
        if known is not None and known.active and known.auth_code == auth.code and not auth.imei:
            # The common case (a known terminal reconnecting): no database trip.
            self.device, self.phone = known, header.phone
            self.reply(header, jt808.OK, parts)
            return
        details = {}
        if auth.imei:
            details["imei"] = auth.imei
        if auth.software_version:
            details["software_version"] = auth.software_version

        def work() -> Known:
            known = registry.authenticate(Protocol.JT808, header.phone, auth.code, peer=self.peer)
            if details:
                registry.update_details(known, details)
            return known

        def done(known: Known | None, refused: Refused | None) -> None:
            if known is None:
                self.gateway.stats.refused += 1
                self.reply(header, jt808.FAIL, parts)
            else:
                self.device, self.phone = known, header.phone
                self.reply(header, jt808.OK, parts)

        self.lookup(work, done)

    def lookup(
        self,
        work: Callable[[], Known],
        done: Callable[[Known | None, Refused | None], None],
    ) -> None:
        self.backlog = []
        self.add_hold(HOLD_BUSY)
        future = self.gateway.run_db(work)

        def finished(future: asyncio.Future[Known]) -> None:
            if self.closed:
                return
            try:
                known = future.result()
            except Refused as exc:
                done(None, exc)
            except Exception:
                # The database is down: no answer; the terminal will try again.
                log.exception("%s: device lookup failed", self.peer)
            else:
                done(known, None)
            backlog, self.backlog = self.backlog or [], None
            self.drop_hold(HOLD_BUSY)
            if backlog:
                self.process(backlog)

        future.add_done_callback(finished)


# --- OsmAnd over HTTP -------------------------------------------------------------------------


class OsmandConnection(_Connection):
    """One HTTP connection of an OsmAnd tracker (keep-alive: several requests in turn)."""

    __slots__ = ("body", "conn", "device_id", "request", "waiting")

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HTTP_HEADER)
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.waiting = False  # a request is being handled; the next one waits
        self.device_id = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._start(transport)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last = self.gateway.loop.time()
        try:
            self.conn.receive_data(data)
        except h11.RemoteProtocolError as exc:
            self.bad_request(exc)
            return
        self.drive()

    def eof_received(self) -> bool | None:
        with contextlib.suppress(h11.RemoteProtocolError):
            self.conn.receive_data(b"")
        if not self.waiting:
            self.drive()
        return None

    def drive(self) -> None:
        """Handle the events h11 has, up to the next request that needs an answer."""
        while not self.waiting and not self.closed:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                self.bad_request(exc)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request = event
                self.body = bytearray()
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_HTTP_BODY:
                    self.problem("request body over %d bytes", MAX_HTTP_BODY)
                    self.respond(413, "request body too large", close=True)
                    return
            elif isinstance(event, h11.EndOfMessage):
                # One request at a time: read no further until this one is answered.
                self.waiting = True
                self.add_hold(HOLD_BUSY)
                self.handle()
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def bad_request(self, exc: Exception) -> None:
        self.gateway.stats.malformed += 1
        self.problem("bad HTTP request: %s", exc)
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self.respond(getattr(exc, "error_status_hint", 400), "bad request", close=True)
        else:
            self.close()

    def handle(self) -> None:
        request = self.request
        assert request is not None
        target = request.target.decode("latin-1")
        _path, _sep, query_text = target.partition("?")
        content_type = ""
        for name, value in request.headers:
            if name == b"content-type":
                content_type = value.decode("latin-1")
        try:
            query = dict(
                parse_qsl(query_text, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
            )
            fix = osmand.parse_request(
                request.method.decode("latin-1"),
                query,
                content_type,
                bytes(self.body),
                dt.datetime.now(UTC),
            )
        except osmand.OsmandError as exc:
            self.gateway.stats.malformed += 1
            self.problem("refused OsmAnd request: %s", exc.message)
            self.respond(exc.status, exc.message)
            return
        except ValueError as exc:  # too many query fields
            self.gateway.stats.malformed += 1
            self.problem("refused OsmAnd request: %s", exc)
            self.respond(400, "bad query")
            return
        json_variant = "json" in content_type.lower()
        registry = self.gateway.registry
        if registry.is_cached(Protocol.OSMAND, fix.device_id):
            known = registry.cached(Protocol.OSMAND, fix.device_id)
            if known is not None and known.active:
                self.accept(known, fix)
                return
            if known is not None:
                self.refuse(fix.device_id, json_variant, "device inactive")
                return
            if registry.unknown != "register":
                self.refuse(fix.device_id, json_variant, "unknown device")
                return

        def work() -> Known:
            return registry.resolve(Protocol.OSMAND, fix.device_id, peer=self.peer)

        def finished(future: asyncio.Future[Known]) -> None:
            if self.closed:
                return
            try:
                known = future.result()
            except Refused as exc:
                self.refuse(fix.device_id, json_variant, exc.reason, logged=True)
            except Exception:
                log.exception("%s: device lookup failed", self.peer)
                self.respond(503, "try again later")
            else:
                self.accept(known, fix)

        self.gateway.run_db(work).add_done_callback(finished)

    def refuse(self, device_id: str, json_variant: bool, reason: str, logged: bool = False) -> None:
        self.gateway.stats.refused += 1
        if not logged:
            log.warning("refused osmand device %r from %s: %s", device_id, self.peer, reason)
        # protocols.md: an unknown device is 404 in the JSON variant, 400 in the query one.
        self.respond(404 if json_variant else 400, "unknown device")

    def accept(self, known: Known, fix: osmand.OsmandFix) -> None:
        self.device_id = known.id
        course = fix.course
        row = store.Fix(
            known.id,
            fix.fixed_at,
            dt.datetime.now(UTC),
            fix.lat,
            fix.lon,
            fix.speed_kmh,
            None if course is None else int(course) % 360,
            fix.altitude,
            fix.accuracy,
            fix.valid,
            0,
            0,
            fix.battery,
            None,
            fix.attributes or None,
        )
        self.unacked += 1
        self.gateway.submit_one(self, row, None)

    def stored(self, acks: list[Any], count: int) -> None:
        self.unacked -= count
        if not self.closed:
            self.respond(200, "")

    def respond(self, status: int, text: str, *, close: bool = False) -> None:
        if self.closed or self.transport is None:
            return
        body = text.encode()
        headers = [("content-length", str(len(body)))]
        if body:
            headers.append(("content-type", "text/plain; charset=utf-8"))
        if close:
            headers.append(("connection", "close"))
        try:
            data = self.conn.send(h11.Response(status_code=status, headers=headers)) or b""
            if body:
                data += self.conn.send(h11.Data(data=body)) or b""
            data += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            self.close()
            return
        self.transport.write(data)
        self.waiting = False
        self.drop_hold(HOLD_BUSY)
        self.request = None
        self.body = bytearray()
        if close or self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
            # Connection: close, or the client had not finished its request: done here.
            self.close()
            return
        self.conn.start_next_cycle()
        self.drive()


# --- The gateway ------------------------------------------------------------------------------


class Gateway:
    """The servers, the pending batch, the flusher and the database thread."""

    def __init__(self, config: GatewayConfig, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or Registry(config.unknown_devices)
        self.connections: set[_Connection] = set()
        self.stats = Stats()
        self.stopping = False
        self.held_globally = False
        self.jt808_port = 0
        self.osmand_port = 0
        self.started = threading.Event()  # for tests and the bench, which run us in a thread
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")
        self._rows: list[store.Fix] = []
        self._acks: list[tuple[_Connection, Any, int]] = []
        self._pending = 0  # rows received and not yet stored (waiting and being written)
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._stop: asyncio.Event
        self._wake: asyncio.Event
        self.loop: asyncio.AbstractEventLoop

    # --- life cycle ---

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        made, devices = await self.run_db(self._prepare)
        cfg = self.config
        jt = await self.loop.create_server(
            lambda: Jt808Connection(self), cfg.host, cfg.jt808_port, backlog=1024
        )
        http = await self.loop.create_server(
            lambda: OsmandConnection(self), cfg.host, cfg.osmand_port, backlog=1024
        )
        self._servers = [jt, http]
        self.jt808_port = jt.sockets[0].getsockname()[1]
        self.osmand_port = http.sockets[0].getsockname()[1]
        self.stats.last_time = self.loop.time()
        self._tasks = [
            self.loop.create_task(self._flusher()),
            self.loop.create_task(self._sweeper()),
            self.loop.create_task(self._reporter()),
        ]
        log.info(
            "gateway listening: JT/T 808 on %s:%d, OsmAnd on %s:%d (%d devices known, "
            "%d partitions made, unknown devices: %s)",
            cfg.host,
            self.jt808_port,
            cfg.host,
            self.osmand_port,
            devices,
            made,
            self.registry.unknown,
        )
        tune_gc()
        self.started.set()

    def _prepare(self) -> tuple[int, int]:
        made = len(partitions.ensure_partitions())
        return made, self.registry.preload()

    async def run(self, *, install_signals: bool = True) -> None:
        """Serve until SIGTERM/SIGINT (or `request_stop`), then stop gracefully."""
        try:
            await self.start()
        except BaseException:
            await self._close_db()
            raise
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(sig, self.request_stop)
        try:
            await self._stop.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        """Begin a graceful stop (on the event loop's thread)."""
        self._stop.set()

    def request_stop_threadsafe(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)

    async def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        log.info("gateway stopping: %d positions pending", self._pending)
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.add_hold(HOLD_STOP)
        # Write and acknowledge what is pending (the flusher retries while the database is
        # down, up to the deadline: what is not stored by then was never acknowledged).
        deadline = self.loop.time() + STOP_TIMEOUT
        self._wake.set()
        while self._pending and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self._pending:
            log.warning(
                "gateway stopped with %d positions not stored (not acknowledged)", self._pending
            )
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for conn in list(self.connections):
            conn.close()
        for server in self._servers:
            await server.wait_closed()
        # Let the transports write their last answers and close.
        deadline = self.loop.time() + 5
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        await self._close_db()
        log.info("gateway stopped: %d positions stored", self.stats.stored)

    async def _close_db(self) -> None:
        with contextlib.suppress(Exception):
            # `connection` must be resolved on the database thread: it is per thread.
            await self.loop.run_in_executor(self._db, _close_connection)
        self._db.shutdown(wait=True)

    def run_db(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run `fn` on the database thread; the future completes on the event loop."""
        return self.loop.run_in_executor(self._db, fn, *args)

    # --- the pending batch ---

    def submit_one(self, conn: _Connection, fix: store.Fix, ack: Any) -> None:
        """Queue one fix; `conn.stored([ack], 1)` is called once it is stored."""
        rows = self._rows
        rows.append(fix)
        self._acks.append((conn, ack, 1))
        self._pending += 1
        self._queued(len(rows))

    def submit(self, conn: _Connection, fixes: list[store.Fix], ack: Any) -> None:
        """Queue several fixes answered together (a 0x0704 batch)."""
        rows = self._rows
        rows.extend(fixes)
        self._acks.append((conn, ack, len(fixes)))
        self._pending += len(fixes)
        self._queued(len(rows))

    def _queued(self, waiting: int) -> None:
        if waiting >= self.config.batch_rows:
            self._wake.set()
        elif self._timer is None:
            self._timer = self.loop.call_later(self.config.flush_seconds, self._wake.set)
        if self._pending >= self.config.max_pending and not self.held_globally:
            self.held_globally = True
            log.warning("back-pressure: %d positions wait for the database", self._pending)
            for conn in self.connections:
                conn.add_hold(HOLD_GLOBAL)

    async def _flusher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._rows:
                continue
            rows, acks = self._rows, self._acks
            self._rows, self._acks = [], []
            await self._write(rows, acks)
            self._pending -= len(rows)
            self.stats.stored += len(rows)
            try:
                self._deliver(acks)
            except Exception:  # a bug must not stop the flusher: nothing would be stored
                log.exception("sending the answers of %d positions failed", len(rows))
            if self.held_globally and self._pending <= self.config.max_pending // 2:
                self.held_globally = False
                log.info("back-pressure over: %d positions pending", self._pending)
                for conn in list(self.connections):
                    conn.drop_hold(HOLD_GLOBAL)
            if self._rows and (len(self._rows) >= self.config.batch_rows or self.stopping):
                self._wake.set()
            elif self._rows and self._timer is None:
                self._timer = self.loop.call_later(self.config.flush_seconds, self._wake.set)

    async def _write(self, rows: list[store.Fix], acks: list[tuple[_Connection, Any, int]]) -> None:
        """Store the batch, retrying until it is stored (the pause growing to RETRY_MAX)."""
        delay = RETRY_FIRST
        attempt = 0
        while True:
            attempt += 1
            try:
                started = self.loop.time()
                await self.run_db(_write_batch, rows)
                self.stats.writes += 1
                self.stats.write_seconds += self.loop.time() - started
                if attempt > 1:
                    log.info("stored %d positions after %d attempts", len(rows), attempt)
                return
            except Exception as exc:
                if isinstance(exc, IntegrityError) and await self._drop_deleted(rows, acks):
                    continue
                self.stats.write_failures += 1
                log.error(
                    "storing %d positions failed (attempt %d, next in %.1f s): %s",
                    len(rows),
                    attempt,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def _drop_deleted(
        self, rows: list[store.Fix], acks: list[tuple[_Connection, Any, int]]
    ) -> bool:
        """A device deleted while its terminal was connected: its rows cannot refer to it.
        Drop them (unacknowledged; their connections are closed); False if none is."""
        try:
            missing = await self.run_db(_missing_devices, {fix.device_id for fix in rows})
        except Exception:
            return False
        if not missing:
            return False
        log.warning("dropping positions of deleted devices %s", sorted(missing))
        rows[:] = [fix for fix in rows if fix.device_id not in missing]
        kept = []
        for conn, ack, n in acks:
            if _device_of(conn) in missing:
                self._pending -= n
                conn.not_stored()
            else:
                kept.append((conn, ack, n))
        acks[:] = kept
        for ident in missing:
            self.registry.forget_device(ident)
        return True

    def _deliver(self, acks: list[tuple[_Connection, Any, int]]) -> None:
        """Send the answers of a stored batch, one write per connection."""
        grouped: dict[_Connection, list[Any]] = {}
        counts: dict[_Connection, int] = {}
        for conn, ack, n in acks:
            group = grouped.get(conn)
            if group is None:
                grouped[conn] = [ack]
                counts[conn] = n
            else:
                group.append(ack)
                counts[conn] += n
        for conn, group in grouped.items():
            conn.stored(group, counts[conn])

    # --- housekeeping ---

    async def _sweeper(self) -> None:
        """Close connections silent for longer than the idle timeout."""
        idle = self.config.idle_timeout
        while True:
            await asyncio.sleep(min(5.0, idle / 4))
            limit = self.loop.time() - idle
            for conn in list(self.connections):
                if conn.last < limit and not conn.unacked:
                    log.info("%s: closing after %.0f s without data", conn.peer, idle)
                    conn.close()

    async def _reporter(self) -> None:
        while True:
            await asyncio.sleep(STATS_SECONDS)
            log.info(self.summary())
            # The rare cyclic garbage (see `tune_gc`) is collected here, on a schedule.
            gc.collect()

    def summary(self) -> str:
        """One line: positions/s since the last summary, connections, pending."""
        now = self.loop.time()
        stats = self.stats
        stored = stats.stored - stats.last_stored
        rate = stored / max(now - stats.last_time, 1e-9)
        writes = stats.writes - stats.last_writes
        seconds = stats.write_seconds - stats.last_write_seconds
        stats.last_stored, stats.last_time = stats.stored, now
        stats.last_writes, stats.last_write_seconds = stats.writes, stats.write_seconds
        batches = (
            f"{writes} batches of {stored / writes:.0f} in {seconds / writes * 1000:.0f} ms"
            if writes
            else "no batches"
        )
        return (
            f"gateway: {rate:.0f} positions/s ({batches}), {len(self.connections)} "
            f"connections, {self._pending} pending; since start {stats.stored} stored, "
            f"{stats.refused} refused, {stats.malformed} malformed, "
            f"{stats.write_failures} failed writes"
        )

    @property
    def pending(self) -> int:
        return self._pending


def _device_of(conn: _Connection) -> int | None:
    if isinstance(conn, Jt808Connection):
        return conn.device.id if conn.device is not None else None
    if isinstance(conn, OsmandConnection):
        return conn.device_id
    return None


def _write_batch(rows: list[store.Fix]) -> None:
    """On the database thread: store; after a failure, drop the connection so the next try
    opens a fresh one (the database may have restarted)."""
    try:
        store.write_fixes(rows)
    except IntegrityError:
        raise
    except DatabaseError:
        with contextlib.suppress(Exception):
            connection.close()
        raise


def _close_connection() -> None:
    connection.close()


def _missing_devices(ids: set[int]) -> set[int]:
    return ids - set(Device.objects.filter(pk__in=ids).values_list("pk", flat=True))


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path.

    Every position allocates a few short-lived objects that reference counting frees, but
    the positions waiting in a batch survive long enough to reach the older generations,
    which made full collections run every second or so, each walking the whole heap (Django,
    the device cache): 10 % of the gateway's time at 30,000 positions/s, measured. So: what
    exists after start-up moves to the permanent generation (never walked again), young
    collections wait for 50,000 net allocations, and the reporter collects fully once a
    minute (the gateway makes almost no cycles; that bounds them)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform without uvloop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(config: GatewayConfig, *, install_signals: bool = True) -> Gateway:
    """Run a gateway until it is told to stop; returns it (for its stats)."""
    gateway = Gateway(config)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(gateway.run(install_signals=install_signals))
    return gateway
