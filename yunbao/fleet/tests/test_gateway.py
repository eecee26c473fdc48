"""The gateway end to end: real TCP sockets and real HTTP against a gateway running in a
thread (or a process, for the restart) on ephemeral ports, writing to the test database.

Every answer is checked against the table: a location is answered only once stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection

from yunbao.fleet import jt808
from yunbao.fleet.gateway import Gateway, GatewayConfig, new_event_loop
from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Position, Protocol

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[3]
T0 = dt.datetime(2026, 3, 2, 4, 0, 0, tzinfo=UTC)
POSITIONED = 0b10
pytestmark = pytest.mark.django_db(transaction=True)


# --- a gateway in a thread --------------------------------------------------------------------


@contextmanager
def running_gateway(**overrides: Any) -> Iterator[Gateway]:
    """A gateway on ephemeral ports in a thread of its own (its own event loop and database
    thread), stopped gracefully at the end."""
    overrides.setdefault("unknown_devices", "refuse")
    config = GatewayConfig.from_settings(host="127.0.0.1", jt808_port=0, osmand_port=0, **overrides)
    gateway = Gateway(config)
    errors: list[BaseException] = []

    def main() -> None:
        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(gateway.run(install_signals=False))
        except BaseException as exc:
            errors.append(exc)
            gateway.started.set()

    thread = threading.Thread(target=main, name="test-gateway", daemon=True)
    thread.start()
    assert gateway.started.wait(20), "the gateway did not start"
    if errors:
        raise errors[0]
    try:
        yield gateway
    finally:
        gateway.request_stop_threadsafe()
        thread.join(40)
        assert not thread.is_alive(), "the gateway did not stop"
        if errors:
            raise errors[0]


# --- a JT/T 808 terminal ----------------------------------------------------------------------


class Terminal:
    """A blocking JT/T 808 client, one socket."""

    def __init__(self, port: int, phone: str = "13800000001", version: int | None = None) -> None:
        self.phone = phone
        self.version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.deframer = jt808.Deframer()
        self.inbox: list[jt808.Message] = []
        self.serial = 0

    def close(self) -> None:
        self.sock.close()

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    def frame(self, msg_id: int, body: bytes = b"", serial: int | None = None, **kw: Any) -> bytes:
        serial = self.next_serial() if serial is None else serial
        return jt808.encode_frame(msg_id, self.phone, serial, body, version=self.version, **kw)

    def send(self, msg_id: int, body: bytes = b"") -> int:
        serial = self.next_serial()
        self.sock.sendall(self.frame(msg_id, body, serial))
        return serial

    def receive(self, timeout: float = 10) -> jt808.Message:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("closed by the gateway")
            self.inbox.extend(jt808.decode_frame(f) for f in self.deframer.feed(data))
        return self.inbox.pop(0)

    def reply(self, timeout: float = 10) -> jt808.GeneralReply:
        message = self.receive(timeout)
        assert message.header.msg_id == jt808.PLATFORM_REPLY
        assert message.header.phone == self.phone.lstrip("0")
        assert message.header.version == self.version
        return jt808.decode_general_reply(message.body)

    def nothing_within(self, seconds: float) -> bool:
        try:
            self.receive(seconds)
        except TimeoutError:
            return True
        return False

    def closed_within(self, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(65536):
                    return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        return False

    def register(self) -> jt808.RegisterReply:
        reg = jt808.Register(44, 111, "YUNBA", "T-1", "ABC1234", 1, "粤A12345")
        serial = self.send(jt808.REGISTER, jt808.encode_register(reg, self.version))
        message = self.receive()
        assert message.header.msg_id == jt808.REGISTER_REPLY
        reply = jt808.decode_register_reply(message.body)
        assert reply.serial == serial
        return reply

    def authenticate(self, code: str) -> jt808.GeneralReply:
        auth = jt808.Authenticate(code, "860000000000001" if self.version else "", "V1")
        serial = self.send(jt808.AUTHENTICATE, jt808.encode_authenticate(auth, self.version))
        reply = self.reply()
        assert (reply.serial, reply.msg_id) == (serial, jt808.AUTHENTICATE)
        return reply

    def login(self) -> str:
        reply = self.register()
        assert reply.result == 0
        assert self.authenticate(reply.auth_code).result == jt808.OK
        return reply.auth_code

    def location_body(
        self, lat: float, lon: float, when: dt.datetime, status: int = POSITIONED, **kw: Any
    ) -> bytes:
        loc = jt808.Location(
            alarm=kw.pop("alarm", 0),
            status=status,
            lat=lat,
            lon=lon,
            altitude=kw.pop("altitude", 15),
            speed_kmh=kw.pop("speed_kmh", 36.5),
            course=kw.pop("course", 90),
            time=when,
            **kw,
        )
        return jt808.encode_location(loc)


def known_terminal(phone: str = "13800000001", **kw: Any) -> Device:
    return Device.objects.create(
        kind=DeviceKind.VEHICLE, protocol=Protocol.JT808, identifier=phone, **kw
    )


def positions(**filters: Any) -> list[Position]:
    return list(Position.objects.filter(**filters).order_by("fixed_at", "id"))


def wait_for(condition: Any, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


@pytest.fixture
def gateway_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("yunbao.fleet")
    logger.addHandler(caplog.handler)  # the yunbao logger does not propagate to the root
    caplog.set_level(logging.INFO, logger="yunbao.fleet")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


# --- JT/T 808 ---------------------------------------------------------------------------------


def test_register_authenticate_report_and_the_answer_comes_after_the_row() -> None:
    with running_gateway(unknown_devices="register") as gateway:
        term = Terminal(gateway.jt808_port)
        code = term.login()
        device = Device.objects.get(protocol=Protocol.JT808, identifier="13800000001")
        assert device.auth_code == code
        assert device.registered_automatically
        assert device.details["maker"] == "YUNBA"
        assert device.plate == "粤A12345"

        body = term.location_body(
            23.1234,
            113.2345,
            T0,
            alarm=0b10,
            mileage_km=1234.5,
            satellites=9,
            signal=20,
            extras={0x25: b"\x00\x00\x00\x01"},
        )
        serial = term.send(jt808.LOCATION, body)
        reply = term.reply()
        # The moment the answer is here, the row must be in the table.
        stored = positions(device=device)
        term.close()

    assert (reply.serial, reply.msg_id, reply.result) == (serial, jt808.LOCATION, jt808.OK)
    assert len(stored) == 1
    row = stored[0]
    assert row.fixed_at == T0
    assert (row.lat, row.lon) == (23.1234, 113.2345)
    assert (row.speed, row.course, row.altitude) == (36.5, 90, 15.0)
    assert row.valid is True
    assert (row.alarm, row.status) == (0b10, POSITIONED)
    assert row.mileage == 1234.5
    assert row.attributes == {"sat": 9, "rssi": 20, "x25": "00000001"}
    assert row.received_at >= row.fixed_at
    assert LatestPosition.objects.get(device=device).fixed_at == T0


def test_the_2019_edition_end_to_end() -> None:
    known_terminal("12345678901234567890")
    with running_gateway() as gateway:
        term = Terminal(gateway.jt808_port, phone="12345678901234567890", version=1)
        code = term.register().auth_code
        assert term.authenticate(code).result == jt808.OK
        serial = term.send(jt808.LOCATION, term.location_body(-33.8, -70.6, T0))
        reply = term.reply()  # checks the answer is a 2019 frame to the 20-digit phone
        term.close()

    assert (reply.serial, reply.result) == (serial, jt808.OK)
    row = positions()[0]
    assert (row.lat, row.lon) == (-33.8, -70.6)
    device = Device.objects.get()
    assert device.details["imei"] == "860000000000001"
    assert device.details["jt808_version"] == 2019


def test_batch_of_locations_is_one_answer_and_backfill_does_not_move_latest_back() -> None:
    known_terminal(auth_code="c0de")
    with running_gateway() as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        live = term.location_body(23.2, 113.2, T0)
        term.send(jt808.LOCATION, live)
        assert term.reply().result == jt808.OK
        items = [
            jt808.Location(
                0, POSITIONED, 23.0 + i / 100, 113.0, 0, 10.0, 0, T0 - dt.timedelta(minutes=10 - i)
            )
            for i in range(3)
        ]
        serial = term.send(jt808.BATCH_LOCATION, jt808.encode_batch(items, type=1))
        reply = term.reply()
        count = Position.objects.count()
        term.close()

    assert (reply.serial, reply.msg_id, reply.result) == (serial, jt808.BATCH_LOCATION, jt808.OK)
    assert count == 4
    latest = LatestPosition.objects.get()
    assert latest.fixed_at == T0
    assert latest.lat == 23.2


def test_split_packets_and_frames_cut_anywhere_by_tcp() -> None:
    known_terminal(auth_code="c0de")
    with running_gateway() as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        # A batch split into packets of 40 bytes, each answered once the whole is stored.
        items = [
            jt808.Location(
                0, POSITIONED, 23.0, 113.0 + i / 1000, 0, 5.0, 0, T0 + dt.timedelta(seconds=i)
            )
            for i in range(4)
        ]
        first = term.serial + 1
        packets = jt808.encode_frames(
            jt808.BATCH_LOCATION, term.phone, first, jt808.encode_batch(items), packet_size=40
        )
        term.serial = first + len(packets) - 1
        # Everything in one stream, cut into 1 to 7 byte pieces.
        stream = b"".join(packets)
        pieces = []
        rng = random.Random(5)
        while stream:
            size = rng.randint(1, 7)
            pieces.append(stream[:size])
            stream = stream[size:]
        for piece in pieces:
            term.sock.sendall(piece)
            time.sleep(0.001)
        replies = [term.reply() for _packet in packets]
        stored = Position.objects.count()
        # Two frames in one segment.
        a = term.frame(jt808.LOCATION, term.location_body(23.5, 113.5, T0 + dt.timedelta(1)))
        b = term.frame(jt808.HEARTBEAT)
        term.sock.sendall(a + b)
        got = sorted((r.msg_id, r.result) for r in (term.reply(), term.reply()))
        term.close()

    assert len(packets) > 2
    assert sorted(r.serial for r in replies) == list(range(first, first + len(packets)))
    assert {(r.msg_id, r.result) for r in replies} == {(jt808.BATCH_LOCATION, jt808.OK)}
    assert stored == 4
    assert got == [(jt808.HEARTBEAT, jt808.OK), (jt808.LOCATION, jt808.OK)]


def test_heartbeat_terminal_replies_and_unknown_messages() -> None:
    known_terminal(auth_code="c0de")
    with running_gateway() as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        beat = term.send(jt808.HEARTBEAT)
        beat_reply = term.reply()
        # A terminal's own general reply is consumed silently ...
        term.send(
            jt808.TERMINAL_REPLY, jt808.encode_general_reply(jt808.GeneralReply(1, 0x8103, 0))
        )
        # ... so the next answer is the one to this unknown message.
        unknown = term.send(0x0900, b"\x01\x02")
        unknown_reply = term.reply()
        term.close()

    assert (beat_reply.serial, beat_reply.msg_id, beat_reply.result) == (beat, 2, jt808.OK)
    assert (unknown_reply.serial, unknown_reply.msg_id) == (unknown, 0x0900)
    assert unknown_reply.result == jt808.UNSUPPORTED


def test_location_before_authentication_is_refused(gateway_log: pytest.LogCaptureFixture) -> None:
    known_terminal(auth_code="c0de")
    with running_gateway() as gateway:
        term = Terminal(gateway.jt808_port)
        serial = term.send(jt808.LOCATION, term.location_body(23.1, 113.1, T0))
        reply = term.reply()
        assert term.authenticate("wrong").result == jt808.FAIL
        term.send(jt808.LOCATION, term.location_body(23.1, 113.1, T0))
        again = term.reply()
        # Authenticated as one terminal, reporting as another: refused as well.
        assert term.authenticate("c0de").result == jt808.OK
        body = term.location_body(23.1, 113.1, T0)
        term.sock.sendall(jt808.encode_frame(jt808.LOCATION, "13899999999", 9, body))
        impostor = jt808.decode_general_reply(term.receive().body)
        term.close()

    assert (reply.serial, reply.result) == (serial, jt808.FAIL)
    assert again.result == jt808.FAIL
    assert impostor.result == jt808.FAIL
    assert Position.objects.count() == 0
    assert "before it registered or authenticated" in gateway_log.text
    assert "wrong auth code" in gateway_log.text


def test_bad_checksum_is_answered_and_the_connection_keeps_working(
    gateway_log: pytest.LogCaptureFixture,
) -> None:
    known_terminal(auth_code="c0de")
    with running_gateway() as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        serial = term.next_serial()
        frame = bytearray(term.frame(jt808.LOCATION, term.location_body(23.1, 113.1, T0), serial))
        frame[-2] ^= 0x55  # the check byte (never a flag or escape here)
        term.sock.sendall(bytes(frame))
        bad = term.reply()
        # Wrong body length in the header: the same.
        wrong = bytearray(jt808.encode_frame(jt808.HEARTBEAT, term.phone, 77, b""))
        wrong[4] = 0x05  # attributes: says 5 bytes of body
        raw = bytes(wrong[1:-1])[:-1]
        fixed = b"\x7e" + raw + bytes([_xor(raw)]) + b"\x7e"
        term.sock.sendall(fixed)
        wrong_reply = term.reply()
        good = term.send(jt808.LOCATION, term.location_body(23.2, 113.2, T0))
        ok = term.reply()
        term.close()

    assert (bad.serial, bad.msg_id, bad.result) == (serial, jt808.LOCATION, jt808.BAD)
    assert (wrong_reply.serial, wrong_reply.result) == (77, jt808.BAD)
    assert (ok.serial, ok.result) == (good, jt808.OK)
    assert [p.lat for p in positions()] == [23.2]
    assert "bad checksum" in gateway_log.text
    assert "wrong body length" in gateway_log.text


def _xor(data: bytes) -> int:
    check = 0
    for byte in data:
        check ^= byte
    return check


def test_impossible_coordinates_are_answered_bad_and_not_positioned_stored_invalid() -> None:
    known_terminal(auth_code="c0de")
    with running_gateway() as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        # 95° north: the codec writes it, the gateway refuses it.
        far = term.send(jt808.LOCATION, term.location_body(95.0, 113.0, T0))
        far_reply = term.reply()
        lost = term.send(jt808.LOCATION, term.location_body(0.0, 0.0, T0, status=0))
        lost_reply = term.reply()
        term.close()

    assert (far_reply.serial, far_reply.result) == (far, jt808.BAD)
    assert (lost_reply.serial, lost_reply.result) == (lost, jt808.OK)
    rows = positions()
    assert len(rows) == 1
    assert rows[0].valid is False


def test_garbage_and_enormous_frames_close_only_that_connection(
    gateway_log: pytest.LogCaptureFixture,
) -> None:
    known_terminal(auth_code="c0de")
    with running_gateway() as gateway:
        good = Terminal(gateway.jt808_port)
        assert good.authenticate("c0de").result == jt808.OK
        rng = random.Random(3)

        noise = Terminal(gateway.jt808_port, phone="13800000002")
        noise.sock.sendall(bytes(rng.choice(range(0x7F, 0x100)) for _ in range(20_000)))
        assert noise.closed_within()

        huge = Terminal(gateway.jt808_port, phone="13800000003")
        huge.sock.sendall(b"\x7e" + b"\x01" * (jt808.MAX_FRAME + 10))
        assert huge.closed_within()

        flags = Terminal(gateway.jt808_port, phone="13800000004")
        flags.sock.sendall(b"".join(b"\x7e" + rng.randbytes(5) for _ in range(50)) + b"\x7e")
        assert flags.closed_within()

        serial = good.send(jt808.LOCATION, good.location_body(23.3, 113.3, T0))
        reply = good.reply()
        for term in (good, noise, huge, flags):
            term.close()

    assert (reply.serial, reply.result) == (serial, jt808.OK)
    assert len(positions()) == 1
    assert "garbage" in gateway_log.text
    assert "without a closing flag" in gateway_log.text
    assert "malformed frames in a row" in gateway_log.text


def test_positions_accepted_before_a_malformed_stream_are_stored() -> None:
    known_terminal(auth_code="c0de")
    with running_gateway(flush_seconds=0.3) as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        frames = [
            term.frame(jt808.LOCATION, term.location_body(23.0 + i / 10, 113.0, T0))
            for i in range(3)
        ]
        # Three good positions, then an endless frame: the connection is closed before the
        # batch is written, yet the three are stored.
        term.sock.sendall(b"".join(frames) + b"\x7e" + b"\x01" * (jt808.MAX_FRAME + 10))
        assert term.closed_within()
        assert wait_for(lambda: Position.objects.count() == 3)
        term.close()

    assert sorted(p.lat for p in positions()) == [23.0, 23.1, 23.2]


def test_reconnect_authenticates_with_the_code_it_got() -> None:
    with running_gateway(unknown_devices="register") as gateway:
        first = Terminal(gateway.jt808_port)
        code = first.login()
        first.send(jt808.LOCATION, first.location_body(23.1, 113.1, T0))
        assert first.reply().result == jt808.OK
        first.close()

        again = Terminal(gateway.jt808_port)
        assert again.authenticate(code).result == jt808.OK
        again.send(jt808.LOCATION, again.location_body(23.2, 113.2, T0 + dt.timedelta(1)))
        assert again.reply().result == jt808.OK
        again.close()

    assert Device.objects.count() == 1
    assert [p.lat for p in positions()] == [23.1, 23.2]


def test_unknown_terminal_is_refused_or_registered_by_the_setting() -> None:
    with running_gateway(unknown_devices="refuse") as gateway:
        term = Terminal(gateway.jt808_port)
        refused = term.register()
        assert term.authenticate("anything").result == jt808.FAIL
        term.close()
    assert refused.result == 4  # no such terminal
    assert refused.auth_code == ""
    assert not Device.objects.exists()

    with running_gateway(unknown_devices="register") as gateway:
        term = Terminal(gateway.jt808_port)
        registered = term.register()
        term.close()
    assert registered.result == 0
    assert Device.objects.get().auth_code == registered.auth_code


def test_inactive_terminal_is_refused() -> None:
    known_terminal(auth_code="c0de", active=False)
    with running_gateway(unknown_devices="register") as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.register().result == 4
        assert term.authenticate("c0de").result == jt808.FAIL
        term.close()
    assert Device.objects.count() == 1


def test_graceful_stop_stores_and_answers_what_is_pending() -> None:
    known_terminal(auth_code="c0de")
    with running_gateway(flush_seconds=30) as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        serial = term.send(jt808.LOCATION, term.location_body(23.1, 113.1, T0))
        assert term.nothing_within(0.3)  # waiting for the (long) flush
        assert wait_for(lambda: gateway.pending == 1)
        gateway.request_stop_threadsafe()
        reply = term.reply()
        assert term.closed_within()
        term.close()

    assert (reply.serial, reply.result) == (serial, jt808.OK)
    assert len(positions()) == 1


def test_a_failed_write_is_not_answered_and_is_retried(
    gateway_log: pytest.LogCaptureFixture,
) -> None:
    known_terminal(auth_code="c0de")
    with running_gateway(batch_rows=2, max_pending=4) as gateway:
        term = Terminal(gateway.jt808_port)
        assert term.authenticate("c0de").result == jt808.OK
        # The database refuses writes: the latest-position table is gone.
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE fleet_latestposition RENAME TO fleet_latest_away")
        try:
            serials = [
                term.send(jt808.LOCATION, term.location_body(23.0, 113.0 + i / 100, T0))
                for i in range(6)
            ]
            assert term.nothing_within(0.8)
            assert gateway.stats.write_failures >= 1
            # Back-pressure: too much waits for the database, nobody is read.
            assert gateway.held_globally
            assert Position.objects.count() == 0
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE fleet_latest_away RENAME TO fleet_latestposition")
        replies = [term.reply(15) for _serial in serials]
        term.close()

    assert sorted(r.serial for r in replies) == serials
    assert {r.result for r in replies} == {jt808.OK}
    assert Position.objects.count() == 6
    assert "storing" in gateway_log.text
    assert "failed" in gateway_log.text


def test_a_deleted_device_loses_its_connection_not_the_others_positions() -> None:
    doomed = known_terminal(auth_code="c0de")
    known_terminal("13800000002", auth_code="c0de")
    with running_gateway() as gateway:
        one = Terminal(gateway.jt808_port)
        two = Terminal(gateway.jt808_port, phone="13800000002")
        assert one.authenticate("c0de").result == jt808.OK
        assert two.authenticate("c0de").result == jt808.OK
        doomed.delete()
        one.send(jt808.LOCATION, one.location_body(23.1, 113.1, T0))
        two.send(jt808.LOCATION, two.location_body(23.2, 113.2, T0))
        assert two.reply().result == jt808.OK
        assert one.closed_within()
        one.close()
        two.close()

    assert [p.lat for p in positions()] == [23.2]


def test_idle_connections_are_closed_and_the_cap_is_kept() -> None:
    known_terminal(auth_code="c0de")
    with running_gateway(idle_timeout=0.4, max_connections=2) as gateway:
        a = Terminal(gateway.jt808_port)
        b = Terminal(gateway.jt808_port, phone="13800000002")
        assert wait_for(lambda: len(gateway.connections) == 2)
        c = Terminal(gateway.jt808_port, phone="13800000003")
        assert c.closed_within(2)  # over the cap
        assert a.closed_within(5)  # silent too long
        assert b.closed_within(5)
        for term in (a, b, c):
            term.close()


# --- restart: a separate gateway process, stopped with SIGTERM mid-traffic --------------------


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{db.get('USER') or 'postgres'}@{host}:{port}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_process(port: int, http_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "FLEET_UNKNOWN_DEVICES": "refuse",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "yunbao.settings_test"),
    }
    process = subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(output) from None
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the gateway process did not start")


def test_restart_loses_nothing_that_was_acknowledged() -> None:
    known_terminal(auth_code="c0de")
    port, http_port = _free_port(), _free_port()
    process = _start_process(port, http_port)
    acked: set[int] = set()
    sent: dict[int, float] = {}
    try:
        term = Terminal(port)
        assert term.authenticate("c0de").result == jt808.OK
        # Positions keep flowing, up to 20 unanswered, while the gateway is told to stop.
        try:
            for i in range(5000):
                lon = round(113.0 + i / 1e5, 5)
                serial = term.send(
                    jt808.LOCATION,
                    term.location_body(23.0, lon, T0 + dt.timedelta(seconds=i)),
                )
                sent[serial] = lon
                if i == 300:
                    process.send_signal(signal.SIGTERM)
                while len(sent) - len(acked) > 20:
                    reply = term.reply(5)
                    if reply.result == jt808.OK:
                        acked.add(reply.serial)
        except (TimeoutError, OSError):  # closed by the stopping gateway
            pass
        try:
            while True:
                reply = term.reply(5)
                if reply.result == jt808.OK:
                    acked.add(reply.serial)
        except (TimeoutError, OSError):
            pass
        term.close()
        assert process.wait(40) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    if process.stdout:
        process.stdout.close()
    assert "gateway stopped" in output

    stored = {round(p.lon, 5) for p in Position.objects.all()}
    assert len(acked) > 250, output
    assert len(sent) > len(acked)  # it did stop mid-traffic
    assert {sent[serial] for serial in acked} <= stored
    # A new gateway carries on: the terminal reconnects and reports.
    process = _start_process(port, http_port)
    try:
        term = Terminal(port)
        assert term.authenticate("c0de").result == jt808.OK
        term.send(jt808.LOCATION, term.location_body(24.0, 114.0, T0))
        assert term.reply().result == jt808.OK
        term.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(40) == 0
        if process.stdout:
            process.stdout.close()
    assert Position.objects.filter(lat=24.0).count() == 1


# --- OsmAnd -----------------------------------------------------------------------------------


def badge(identifier: str = "traccar-1", **kw: Any) -> Device:
    return Device.objects.create(
        kind=DeviceKind.BADGE, protocol=Protocol.OSMAND, identifier=identifier, **kw
    )


def http(port: int) -> HTTPConnection:
    return HTTPConnection("127.0.0.1", port, timeout=10)


def test_osmand_query_get_is_stored_then_answered_200() -> None:
    device = badge()
    with running_gateway() as gateway:
        client = http(gateway.osmand_port)
        query = urlencode(
            {
                "id": "traccar-1",
                "lat": "23.1",
                "lon": "113.2",
                "timestamp": "1772424000",
                "speed": "10",
                "bearing": "45",
                "altitude": "12",
                "accuracy": "5",
                "batt": "77",
                "driverUniqueId": "A7",
            }
        )
        client.request("GET", f"/?{query}")
        response = client.getresponse()
        body = response.read()
        stored = positions(device=device)
        # Keep-alive: a second request on the same connection.
        client.request("GET", "/?id=traccar-1&lat=23.2&lon=113.3")
        second = client.getresponse()
        second.read()
        client.close()

    assert response.status == 200
    assert body == b""
    assert second.status == 200
    assert len(stored) == 1
    row = stored[0]
    assert row.fixed_at == dt.datetime.fromtimestamp(1772424000, UTC)
    assert (row.lat, row.lon) == (23.1, 113.2)
    assert row.speed == pytest.approx(18.52)  # knots
    assert (row.course, row.altitude, row.accuracy, row.battery) == (45, 12.0, 5.0, 77.0)
    assert row.attributes == {"driverUniqueId": "A7"}
    assert (row.alarm, row.status) == (0, 0)
    assert Position.objects.count() == 2


def test_osmand_post_form_and_json() -> None:
    device = badge()
    with running_gateway() as gateway:
        client = http(gateway.osmand_port)
        client.request(
            "POST",
            "/",
            body="id=traccar-1&lat=23.1&lon=113.1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        form = client.getresponse()
        form.read()
        payload = {
            "device_id": "traccar-1",
            "location": {
                "timestamp": "2026-03-02T04:00:00Z",
                "coords": {
                    "latitude": 23.2,
                    "longitude": 113.2,
                    "speed": 5,
                    "heading": 90,
                    "accuracy": 8,
                    "altitude": 30,
                },
                "is_moving": True,
                "battery": {"level": 0.5, "is_charging": False},
                "activity": {"type": "walking"},
            },
        }
        client.request(
            "POST", "/", body=json.dumps(payload), headers={"Content-Type": "application/json"}
        )
        response = client.getresponse()
        response.read()
        client.close()

    assert form.status == 200
    assert response.status == 200
    rows = positions(device=device)
    assert [r.lat for r in rows] == [23.2, 23.1]  # the JSON one carries an older time
    js = rows[0]
    assert js.fixed_at == T0
    assert js.speed == pytest.approx(18.0)
    assert js.battery == 50.0
    assert js.attributes == {"is_moving": True, "charge": False, "activity": "walking"}


def test_osmand_unknown_device_missing_id_and_bad_coordinates(
    gateway_log: pytest.LogCaptureFixture,
) -> None:
    badge()
    with running_gateway() as gateway:
        client = http(gateway.osmand_port)

        def status(method: str, path: str, body: str | None = None, json_body: bool = False) -> int:
            headers = {"Content-Type": "application/json"} if json_body else {}
            client.request(method, path, body=body, headers=headers)
            response = client.getresponse()
            response.read()
            return response.status

        unknown_query = status("GET", "/?id=nobody&lat=23&lon=113")
        unknown_json = status(
            "POST",
            "/",
            json.dumps(
                {"device_id": "nobody", "location": {"coords": {"latitude": 23, "longitude": 113}}}
            ),
            json_body=True,
        )
        missing = status("GET", "/?lat=23&lon=113")
        bad = status("GET", "/?id=traccar-1&lat=123&lon=113")
        not_json = status("POST", "/", "{oops", json_body=True)
        ok = status("GET", "/?id=traccar-1&lat=23&lon=113")
        client.close()

    assert (unknown_query, unknown_json) == (400, 404)
    assert (missing, bad, not_json) == (400, 400, 400)
    assert ok == 200
    assert Position.objects.count() == 1
    assert not Device.objects.filter(identifier="nobody").exists()
    assert "refused osmand device 'nobody'" in gateway_log.text
    assert "missing id" in gateway_log.text


def test_osmand_unknown_device_is_registered_when_allowed() -> None:
    with running_gateway(unknown_devices="register") as gateway:
        client = http(gateway.osmand_port)
        client.request("GET", "/?id=new-phone&lat=23&lon=113")
        response = client.getresponse()
        response.read()
        client.close()

    assert response.status == 200
    device = Device.objects.get(identifier="new-phone")
    assert device.kind == DeviceKind.BADGE
    assert device.registered_automatically
    assert Position.objects.filter(device=device).count() == 1


def test_osmand_malformed_http_is_answered_400_and_closed() -> None:
    badge()
    with running_gateway() as gateway:
        sock = socket.create_connection(("127.0.0.1", gateway.osmand_port), timeout=10)
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        sock.close()
        # An enormous header: refused without reading it all.
        sock = socket.create_connection(("127.0.0.1", gateway.osmand_port), timeout=10)
        with suppress(OSError):
            sock.sendall(b"GET /?id=traccar-1 HTTP/1.1\r\nX-Big: " + b"a" * 100_000)
        big = b""
        try:
            while chunk := sock.recv(4096):
                big += chunk
        except OSError:
            pass
        sock.close()
        # The gateway still serves.
        client = http(gateway.osmand_port)
        client.request("GET", "/?id=traccar-1&lat=23&lon=113")
        response = client.getresponse()
        response.read()
        client.close()

    assert answer.startswith(b"HTTP/1.1 400")
    assert big.startswith(b"HTTP/1.1 431")
    assert response.status == 200
