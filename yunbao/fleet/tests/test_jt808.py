"""The JT/T 808 codec: hand-checked frames, round trips of every message in both editions,
escaping edge cases, TCP reads cut anywhere, split messages, and fuzzing (only FrameError
may escape, and memory stays bounded)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable
from functools import reduce
from operator import xor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.jt808 import run as run_bench
from yunbao.fleet import jt808
from yunbao.fleet.jt808 import (
    Authenticate,
    Deframer,
    FrameError,
    GeneralReply,
    Header,
    Location,
    Message,
    Reassembler,
    Register,
    RegisterReply,
)

UTC = dt.UTC
BEIJING = dt.timezone(dt.timedelta(hours=8))


def plain_xor(data: bytes | bytearray) -> int:
    """The checksum the slow, obvious way, to judge the codec's folded one."""
    return reduce(xor, data, 0)


def inner(frame: bytes) -> bytes:
    """An encoded frame without its two flags, as the Deframer hands it over."""
    assert frame[:1] == b"\x7e"
    assert frame[-1:] == b"\x7e"
    return frame[1:-1]


def frame_of(msg_id: int, body: bytes = b"", **kwargs: object) -> bytes:
    return jt808.encode_frame(msg_id, "13912345678", 7, body, **kwargs)  # type: ignore[arg-type]


# --- Hand-checked frames --------------------------------------------------------------------


def test_a_hand_written_heartbeat_decodes_and_encodes_byte_for_byte() -> None:
    # 7E | 0002 (heartbeat) | 0000 (attrs: 2013, body 0) | 013912345678 (phone BCD[6])
    #    | 0001 (serial) | 33 | 7E
    # Checksum by hand: 00^02=02, ^00^00=02, ^01=03, ^39=3A, ^12=28, ^34=1C, ^56=4A,
    # ^78=32, ^00=32, ^01=33.
    wire = bytes.fromhex("7E 0002 0000 013912345678 0001 33 7E")

    message = jt808.decode_frame(inner(wire))

    assert message.header == Header(
        msg_id=jt808.HEARTBEAT,
        phone="13912345678",
        serial=1,
        version=None,
        encrypted=0,
        body_length=0,
        packet_total=None,
        packet_no=None,
    )
    assert message.body == b""
    assert jt808.encode_frame(jt808.HEARTBEAT, "13912345678", 1) == wire


def test_a_hand_written_location_frame_decodes_field_by_field() -> None:
    wire = bytes.fromhex(
        "7E"
        "0200 0028 013912345678 0012"  # location, 40-byte body, phone, serial 0x12
        "00000000"  # alarm
        "000C0003"  # status: ACC on, positioned, GPS + BeiDou (bits 18, 19)
        "0160EC4B"  # latitude 23,129,163 millionths (0x0160EC4B)
        "06C04733"  # longitude 113,264,435 millionths (0x06C04733)
        "0015"  # altitude 21 m
        "016D"  # speed 365 = 36.5 km/h
        "005A"  # direction 90
        "240501083015"  # 2024-05-01 08:30:15 Beijing time
        "0104 00003039"  # 0x01 mileage 12345 = 1234.5 km
        "3001 19"  # 0x30 signal strength 25
        "3101 0C"  # 0x31 satellites 12
        # Checksum by hand, header: 02^00^00^28=2A ^01=2B ^39=12 ^12=00 ^34=34 ^56=62
        # ^78=1A ^00=1A ^12=08; body groups: status 0C^03=0F (08^0F=07); lat 01^60^EC^4B=C6
        # (=C1); lon 06^C0^47^33=B2 (=73); altitude 15 (=66); speed 01^6D=6C (=0A);
        # direction 5A (=50); time 24^05^01^08^30^15=0D (=5D); mileage item
        # 01^04^30^39=0C (=51); signal item 30^01^19=28 (=79); satellites 31^01^0C=3C (=45).
        "45"
        "7E"
    )
    frame = inner(wire)
    assert plain_xor(wire[1:-2]) == 0x45  # the hand computation, checked the slow way

    message = jt808.decode_frame(frame)
    loc = jt808.decode_location(message.body)

    assert (message.header.msg_id, message.header.phone, message.header.serial) == (
        jt808.LOCATION,
        "13912345678",
        0x12,
    )
    assert loc.alarm == 0
    assert loc.status == 0x000C0003
    assert loc.valid
    assert (loc.lat, loc.lon) == (23.129163, 113.264435)
    assert (loc.altitude, loc.speed_kmh, loc.course) == (21, 36.5, 90)
    assert loc.time == dt.datetime(2024, 5, 1, 0, 30, 15, tzinfo=UTC)
    assert loc.time.tzinfo is UTC
    assert loc.extras == {0x01: bytes.fromhex("00003039"), 0x30: b"\x19", 0x31: b"\x0c"}
    assert (loc.mileage_km, loc.fuel_l, loc.signal, loc.satellites) == (1234.5, None, 25, 12)
    # And the encoder writes exactly those bytes back.
    assert jt808.encode_frame(jt808.LOCATION, "13912345678", 0x12, jt808.encode_location(loc)) == (
        wire
    )


def test_a_2019_header_carries_its_version_byte_and_ten_byte_phone() -> None:
    # 0002 | attrs 4000 (version flag, body 0) | version 01 | phone BCD[10] | serial 0005
    body = bytes.fromhex("0002 4000 01 00000000013912345678 0005")
    wire = b"\x7e" + body + bytes((plain_xor(body),)) + b"\x7e"

    header = jt808.decode_frame(inner(wire)).header

    assert (header.version, header.phone, header.serial, header.body_length) == (
        1,
        "13912345678",
        5,
        0,
    )
    assert jt808.encode_frame(jt808.HEARTBEAT, "13912345678", 5, version=1) == wire


def test_an_all_zero_phone_reads_as_zero() -> None:
    assert jt808.decode_frame(inner(jt808.encode_frame(2, "0", 1))).header.phone == "0"
    assert jt808.decode_frame(inner(jt808.encode_frame(2, "000", 1, version=0))).header.phone == (
        "0"
    )


def test_the_time_is_beijing_time_turned_into_utc() -> None:
    loc = Location(0, 2, 1.0, 2.0, 0, 0.0, 0, dt.datetime(2024, 1, 1, 0, 0, tzinfo=BEIJING))
    body = jt808.encode_location(loc)

    assert body[22:28] == bytes.fromhex("240101000000")
    assert jt808.decode_location(body).time == dt.datetime(2023, 12, 31, 16, 0, tzinfo=UTC)


def test_south_and_west_make_negative_degrees() -> None:
    loc = Location(0, 0, -33.865143, -70.648274, 0, 0.0, 0, dt.datetime(2024, 1, 1, tzinfo=UTC))
    body = jt808.encode_location(loc)
    status = int.from_bytes(body[4:8])

    assert status & jt808.STATUS_SOUTH
    assert status & jt808.STATUS_WEST
    assert int.from_bytes(body[8:12]) == 33_865_143
    back = jt808.decode_location(body)
    assert (back.lat, back.lon) == (-33.865143, -70.648274)
    assert not back.valid


def test_coordinates_out_of_range_still_decode_and_the_helper_says_so() -> None:
    loc = Location(0, 2, 95.0, 200.0, 0, 0.0, 0, dt.datetime(2024, 1, 1, tzinfo=UTC))

    back = jt808.decode_location(jt808.encode_location(loc))

    assert (back.lat, back.lon) == (95.0, 200.0)
    assert not jt808.coordinates_ok(back.lat, back.lon)
    assert jt808.coordinates_ok(-90, 180)
    assert jt808.coordinates_ok(23.1, 113.2)
    assert not jt808.coordinates_ok(-90.000001, 0)
    assert not jt808.coordinates_ok(0, -180.5)
    assert not jt808.coordinates_ok(float("nan"), 0)
    assert not jt808.coordinates_ok(0, float("inf"))


def test_typed_extras_need_their_standard_size_but_raw_bytes_are_kept() -> None:
    loc = Location(
        0,
        2,
        1.0,
        1.0,
        0,
        0.0,
        0,
        dt.datetime(2024, 1, 1, tzinfo=UTC),
        extras={0x01: b"\x01\x02", 0x31: b"\x05\x06", 0x02: b"\x00\x64", 0xE1: b"vendor"},
    )

    back = jt808.decode_location(jt808.encode_location(loc))

    assert back.mileage_km is None  # two bytes where four belong
    assert back.satellites is None
    assert back.fuel_l == 10.0
    assert back.extras == loc.extras


def test_the_general_reply_bodies_and_the_fast_platform_reply_agree() -> None:
    header = Header(jt808.LOCATION, "13912345678", 0x1234, None, 0, 40)

    wire = jt808.platform_reply(header, jt808.OK, 9)

    assert (
        wire
        == bytes.fromhex("7E 8001 0005 013912345678 0009 1234 0200 00")
        + bytes((plain_xor(bytes.fromhex("8001 0005 013912345678 0009 1234 0200 00")),))
        + b"\x7e"
    )
    message = jt808.decode_frame(inner(wire))
    assert message.header.msg_id == jt808.PLATFORM_REPLY
    assert jt808.decode_general_reply(message.body) == GeneralReply(0x1234, jt808.LOCATION, 0)


def test_a_2019_terminal_gets_a_2019_platform_reply() -> None:
    header = Header(jt808.HEARTBEAT, "1391234567890123", 3, 1, 0, 0)

    message = jt808.decode_frame(inner(jt808.platform_reply(header, jt808.ALARM_ACK, 65535)))

    assert message.header.version == 1
    assert message.header.phone == "1391234567890123"
    assert message.header.serial == 65535
    assert jt808.decode_general_reply(message.body) == GeneralReply(3, jt808.HEARTBEAT, 4)


def test_the_message_ids_and_results_are_the_standards() -> None:
    assert (jt808.TERMINAL_REPLY, jt808.PLATFORM_REPLY, jt808.HEARTBEAT) == (0x0001, 0x8001, 2)
    assert (jt808.REGISTER, jt808.REGISTER_REPLY, jt808.AUTHENTICATE) == (0x100, 0x8100, 0x102)
    assert (jt808.LOCATION, jt808.BATCH_LOCATION) == (0x0200, 0x0704)
    assert (jt808.OK, jt808.FAIL, jt808.BAD, jt808.UNSUPPORTED, jt808.ALARM_ACK) == (0, 1, 2, 3, 4)
    assert jt808.MAX_FRAME == 2 * (17 + 4 + 1023 + 1)


# --- Escaping --------------------------------------------------------------------------------


def _body_giving_checksum(target: int, **kwargs: object) -> bytes:
    """A one-byte body that makes the frame's checksum `target`."""
    escaped = inner(frame_of(0x0900, b"\x00", **kwargs))
    # Unescaped (7D 02 first), without the check byte: the header and the 0x00 body byte.
    head = escaped.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")[:-1]
    return bytes((plain_xor(head) ^ target,))


@pytest.mark.parametrize("version", [None, 1])
@pytest.mark.parametrize(("check", "escaped"), [(0x7E, b"\x7d\x02"), (0x7D, b"\x7d\x01")])
def test_a_checksum_of_7e_or_7d_is_escaped(version: int | None, check: int, escaped: bytes) -> None:
    body = _body_giving_checksum(check, version=version)

    wire = frame_of(0x0900, body, version=version)

    assert wire.endswith(escaped + b"\x7e")
    assert wire.count(b"\x7e") == 2
    message = jt808.decode_frame(inner(wire))
    assert message.body == body
    # Through the Deframer too, one byte at a time.
    deframer = Deframer()
    frames = [f for i in range(len(wire)) for f in deframer.feed(wire[i : i + 1])]
    assert frames == [inner(wire)]


def test_flags_and_escapes_inside_the_body_round_trip() -> None:
    body = b"\x7e\x7d\x7d\x7e\x7e\x7d\x01\x7d\x02\x01\x02\x7d"

    wire = frame_of(0x0900, body)

    assert wire.count(b"\x7e") == 2
    assert b"\x7d\x7d" not in wire
    assert inner(wire).count(b"\x7d") == 3 + 5  # each of the three 7E and five 7D escaped
    assert jt808.decode_frame(inner(wire)).body == body


@pytest.mark.parametrize(
    "bad",
    [
        b"\x7d\x7d",  # an escape must be followed by 01 or 02
        b"\x7d\x03",
        b"\x7d\x00",
        b"\x7d",  # at the very end
    ],
)
def test_a_bad_escape_is_a_frame_error(bad: bytes) -> None:
    good = inner(frame_of(jt808.HEARTBEAT))

    with pytest.raises(FrameError, match="escape"):
        jt808.decode_frame(good[:5] + bad + good[5:])
    with pytest.raises(FrameError, match="escape"):
        jt808.decode_frame(good + bad)


def test_7d_01_02_is_an_escaped_7d_then_02_not_an_escaped_7e() -> None:
    # The order of unescaping matters: "7D 01 02" is 7D, 02 (not 7E).
    body = b"\x7d\x02"

    wire = frame_of(0x0900, body)

    assert b"\x7d\x01\x02" in wire
    assert jt808.decode_frame(inner(wire)).body == body


# --- Frame errors ----------------------------------------------------------------------------


def test_the_frame_errors_say_what_is_wrong() -> None:
    good = inner(frame_of(jt808.LOCATION, b"\x00" * 28))

    with pytest.raises(FrameError, match="too short"):
        jt808.decode_frame(good[:10])
    with pytest.raises(FrameError, match="too short"):
        jt808.decode_frame(b"")
    with pytest.raises(FrameError, match="bad checksum"):
        jt808.decode_frame(good[:-1] + bytes((good[-1] ^ 1,)))
    wrong_length = bytearray(good[:-1])
    wrong_length[3] += 1
    wrong_length.append(plain_xor(wrong_length))
    with pytest.raises(FrameError, match="wrong body length: header says 29, frame has 28"):
        jt808.decode_frame(bytes(wrong_length))
    not_bcd = bytearray(good[:-1])
    not_bcd[4] = 0xAB
    not_bcd.append(plain_xor(not_bcd))
    with pytest.raises(FrameError, match="not BCD"):
        jt808.decode_frame(bytes(not_bcd))
    short_2019 = bytes.fromhex("0002 4000 01 0000000001391234")
    with pytest.raises(FrameError, match="2019"):
        jt808.decode_frame(short_2019 + bytes((plain_xor(short_2019),)))
    short_split = bytes.fromhex("0002 2000 013912345678 0001 0002")
    with pytest.raises(FrameError, match="packet info"):
        jt808.decode_frame(short_split + bytes((plain_xor(short_split),)))


def test_encoding_refuses_what_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="at most 1023"):
        jt808.encode_frame(1, "1", 1, b"x" * 1024)
    with pytest.raises(ValueError, match="digits"):
        jt808.encode_frame(1, "13912x", 1)
    with pytest.raises(ValueError, match="digits"):
        jt808.encode_frame(1, "1" * 13, 1)
    with pytest.raises(ValueError, match="digits"):
        jt808.encode_frame(1, "1" * 21, 1, version=1)
    with pytest.raises(ValueError, match="out of range"):
        jt808.encode_frame(1, "1", 70_000)
    with pytest.raises(ValueError, match="aware"):
        jt808.encode_location(Location(0, 0, 0.0, 0.0, 0, 0.0, 0, dt.datetime(2024, 1, 1)))
    with pytest.raises(ValueError, match="2000-2099"):
        jt808.encode_location(
            Location(0, 0, 0.0, 0.0, 0, 0.0, 0, dt.datetime(1999, 1, 1, tzinfo=UTC))
        )
    with pytest.raises(ValueError, match="latitude"):
        jt808.encode_location(
            Location(0, 0, float("nan"), 0.0, 0, 0.0, 0, dt.datetime(2024, 1, 1, tzinfo=UTC))
        )
    with pytest.raises(ValueError, match="out of range"):
        jt808.encode_location(
            Location(0, 0, 5000.0, 0.0, 0, 0.0, 0, dt.datetime(2024, 1, 1, tzinfo=UTC))
        )
    with pytest.raises(ValueError, match="longer than 5"):
        jt808.encode_register(Register(1, 2, "TOOLONG", "m", "t", 1, "p"), None)
    with pytest.raises(ValueError, match="GBK"):
        jt808.encode_register(Register(1, 2, "m", "m", "t", 1, "🚗"), None)


# --- Body errors -----------------------------------------------------------------------------


def _loc_body(extras: bytes = b"") -> bytes:
    return (
        jt808.encode_location(
            Location(0, 2, 23.0, 113.0, 5, 10.0, 5, dt.datetime(2024, 1, 1, tzinfo=UTC))
        )
        + extras
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00" * 27, "location body too short"),
        (_loc_body(b"\x01"), "cut short"),
        (_loc_body(b"\x01\x04\x00\x00"), "runs past the body"),
        (_loc_body()[:22] + bytes.fromhex("241301000000"), "bad BCD time: 241301000000"),
        (_loc_body()[:22] + bytes.fromhex("2401010000A0"), "bad BCD time"),
        (_loc_body()[:22] + bytes(6), "bad BCD time: 000000000000"),
    ],
)
def test_a_malformed_location_is_a_frame_error(body: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        jt808.decode_location(body)


def test_malformed_bodies_of_every_kind_are_frame_errors() -> None:
    item = _loc_body()
    with pytest.raises(FrameError, match="says 2 items, body has 1"):
        jt808.decode_batch(b"\x00\x02\x00" + len(item).to_bytes(2) + item)
    with pytest.raises(FrameError, match="runs past"):
        jt808.decode_batch(b"\x00\x01\x00" + (len(item) + 1).to_bytes(2) + item)
    with pytest.raises(FrameError, match="cut short"):
        jt808.decode_batch(b"\x00\x01\x00\x00")
    with pytest.raises(FrameError, match="too short"):
        jt808.decode_batch(b"\x00")
    with pytest.raises(FrameError, match="too short for 2013"):
        jt808.decode_register(b"\x00" * 36, None)
    with pytest.raises(FrameError, match="too short for 2019"):
        jt808.decode_register(b"\x00" * 40, 1)
    with pytest.raises(FrameError, match="plate is not GBK"):
        jt808.decode_register(b"\x00" * 37 + b"\x81\x7f", None)
    with pytest.raises(FrameError, match="expected 40"):
        jt808.decode_authenticate(b"\x04abcd", 1)
    with pytest.raises(FrameError, match="empty"):
        jt808.decode_authenticate(b"", 1)
    with pytest.raises(FrameError, match="expected 5"):
        jt808.decode_general_reply(b"\x00\x01\x02\x00")
    with pytest.raises(FrameError, match="too short"):
        jt808.decode_register_reply(b"\x00\x01")


def test_register_strings_are_padded_and_the_plate_is_gbk() -> None:
    reg = Register(44, 100, "YB", "T-1", "A1", 2, "粤A12345")

    body = jt808.encode_register(reg, None)

    assert len(body) == 2 + 2 + 5 + 20 + 7 + 1 + 8  # the plate is 8 bytes in GBK
    assert body[4:9] == b"YB\x00\x00\x00"
    assert body[-8:] == "粤A12345".encode("gbk")
    assert jt808.decode_register(body, None) == reg
    # Space padding reads the same as NUL padding.
    spaced = body[:4] + b"YB   " + body[9:]
    assert jt808.decode_register(spaced, None).maker == "YB"
    assert len(jt808.encode_register(reg, 1)) == 2 + 2 + 11 + 30 + 30 + 1 + 8


def test_register_fields_end_at_the_first_nul_and_ff_padding_is_dropped() -> None:
    body = (
        bytes.fromhex("002C 0064")
        + b"YB\x00\xfa\xfb"  # a C string with garbage after its NUL
        + b"T-1".ljust(20, b"\xff")
        + b"A1 \x00\x00\x00\x00"
        + b"\x02"
        + "粤A12345".encode("gbk")
        + b"\x00\x00"
    )

    reg = jt808.decode_register(body, None)

    assert (reg.maker, reg.model, reg.terminal_id, reg.plate) == ("YB", "T-1", "A1", "粤A12345")


def test_authenticate_2013_is_the_whole_body_2019_has_length_imei_and_version() -> None:
    auth = Authenticate("a1b2c3", "860000000000001", "V1.2.3")

    assert jt808.encode_authenticate(auth, None) == b"a1b2c3"
    assert jt808.decode_authenticate(b"a1b2c3", None) == Authenticate("a1b2c3")
    body = jt808.encode_authenticate(auth, 1)
    assert body[0] == 6
    assert body[1:7] == b"a1b2c3"
    assert body[7:22] == b"860000000000001"
    assert body[22:] == b"V1.2.3".ljust(20, b"\x00")
    assert jt808.decode_authenticate(body, 1) == auth


# --- Round trips (hypothesis) ----------------------------------------------------------------

versions = st.none() | st.integers(0, 255)
words = st.integers(0, 0xFFFF)
TYPED = (jt808.EXTRA_MILEAGE, jt808.EXTRA_FUEL, jt808.EXTRA_SIGNAL, jt808.EXTRA_SATELLITES)


@st.composite
def phones(draw: st.DrawFn, version: int | None) -> str:
    digits = 12 if version is None else 20
    return str(draw(st.integers(0, 10**digits - 1)))


def _not_of_size(size: int) -> Callable[[bytes], bool]:
    return lambda raw: len(raw) != size


@st.composite
def locations(draw: st.DrawFn, max_extras: int = 4, max_size: int = 12) -> Location:
    status = draw(st.integers(0, 0xFFFFFFFF))
    lat_raw, lon_raw = draw(st.integers(0, 0xFFFFFFFF)), draw(st.integers(0, 0xFFFFFFFF))
    extras = draw(
        st.dictionaries(
            st.integers(0, 255).filter(lambda key: key not in TYPED),
            st.binary(max_size=max_size),
            max_size=max_extras,
        )
    )
    mileage = draw(st.none() | st.integers(0, 0xFFFFFFFF))
    fuel = draw(st.none() | st.integers(0, 0xFFFF))
    signal = draw(st.none() | st.integers(0, 255))
    satellites = draw(st.none() | st.integers(0, 255))
    # What the standard sizes put in extras, as a decoder will find them.
    for key, value, size in (
        (jt808.EXTRA_MILEAGE, mileage, 4),
        (jt808.EXTRA_FUEL, fuel, 2),
        (jt808.EXTRA_SIGNAL, signal, 1),
        (jt808.EXTRA_SATELLITES, satellites, 1),
    ):
        if value is not None:
            extras[key] = value.to_bytes(size)
        elif draw(st.booleans()):  # a vendor's item under a standard id, odd size
            extras[key] = draw(st.binary(max_size=8).filter(_not_of_size(size)))
    when = draw(
        st.datetimes(
            min_value=dt.datetime(1999, 12, 31, 16, 0),  # 2000-01-01 00:00 UTC+8
            max_value=dt.datetime(2099, 12, 31, 15, 59, 59),
            timezones=st.just(UTC),
        )
    ).replace(microsecond=0)
    return Location(
        alarm=draw(st.integers(0, 0xFFFFFFFF)),
        status=status,
        lat=-lat_raw / 1e6 if status & jt808.STATUS_SOUTH else lat_raw / 1e6,
        lon=-lon_raw / 1e6 if status & jt808.STATUS_WEST else lon_raw / 1e6,
        altitude=draw(words),
        speed_kmh=draw(words) / 10,
        course=draw(words),
        time=when,
        extras=extras,
        mileage_km=None if mileage is None else mileage / 10,
        fuel_l=None if fuel is None else fuel / 10,
        satellites=satellites,
        signal=signal,
    )


def _through_the_wire(
    msg_id: int, body: bytes, version: int | None, phone: str = "13912345678"
) -> Message:
    wire = jt808.encode_frame(msg_id, phone, 1, body, version=version)
    frames = Deframer().feed(wire)
    assert frames == [inner(wire)]
    message = jt808.decode_frame(frames[0])
    assert message.header.msg_id == msg_id
    assert message.header.version == version
    return message


@given(
    version=versions,
    data=st.data(),
    msg_id=words,
    serial=words,
    body=st.binary(max_size=1023),
    encrypted=st.integers(0, 7),
)
def test_any_frame_round_trips(
    version: int | None, data: st.DataObject, msg_id: int, serial: int, body: bytes, encrypted: int
) -> None:
    phone = data.draw(phones(version))

    wire = jt808.encode_frame(msg_id, phone, serial, body, version=version, encrypted=encrypted)

    assert wire.count(b"\x7e") == 2
    assert wire[0] == wire[-1] == 0x7E
    message = jt808.decode_frame(inner(wire))
    assert message.header == Header(
        msg_id, phone.lstrip("0") or "0", serial, version, encrypted, len(body)
    )
    assert message.body == body


@given(loc=locations(), version=versions)
def test_a_location_round_trips(loc: Location, version: int | None) -> None:
    body = jt808.encode_location(loc)

    assert jt808.decode_location(_through_the_wire(jt808.LOCATION, body, version).body) == loc


@given(
    items=st.lists(locations(max_extras=2, max_size=4), max_size=12), kind=st.sampled_from([0, 1])
)
def test_a_batch_round_trips(items: list[Location], kind: int) -> None:
    body = jt808.encode_batch(items, type=kind)

    assert jt808.decode_batch(body) == (kind, items)
    if len(body) <= jt808.MAX_BODY:
        message = _through_the_wire(jt808.BATCH_LOCATION, body, None)
        assert jt808.decode_batch(message.body) == (kind, items)


def _gbk_text(width: int, alphabet: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=width).filter(
        lambda text: len(text.encode("gbk")) <= width
    )


IDENTIFIER = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefxyz0123456789-_."
PLATE = "粤京沪苏浙学警ABCDEFGHJKLMN0123456789"


@given(data=st.data(), version=versions)
def test_a_register_round_trips(data: st.DataObject, version: int | None) -> None:
    maker_w, model_w, terminal_w = (5, 20, 7) if version is None else (11, 30, 30)
    reg = Register(
        province=data.draw(words),
        city=data.draw(words),
        maker=data.draw(_gbk_text(maker_w, IDENTIFIER)),
        model=data.draw(_gbk_text(model_w, IDENTIFIER + "型号")),
        terminal_id=data.draw(_gbk_text(terminal_w, IDENTIFIER)),
        plate_colour=data.draw(st.integers(0, 255)),
        plate=data.draw(_gbk_text(20, PLATE)),
    )

    body = jt808.encode_register(reg, version)

    assert len(body) >= (37 if version is None else 76)
    assert jt808.decode_register(
        _through_the_wire(jt808.REGISTER, body, version).body, version
    ) == (reg)


@given(data=st.data(), version=versions)
def test_an_authenticate_round_trips(data: st.DataObject, version: int | None) -> None:
    code = data.draw(_gbk_text(255, IDENTIFIER).filter(bool))
    if version is None:
        auth = Authenticate(code)
    else:
        auth = Authenticate(
            code,
            data.draw(st.text(alphabet="0123456789", max_size=15)),
            data.draw(_gbk_text(20, IDENTIFIER)),
        )

    body = jt808.encode_authenticate(auth, version)

    message = _through_the_wire(jt808.AUTHENTICATE, body, version)
    assert jt808.decode_authenticate(message.body, version) == auth


@given(
    reply=st.builds(GeneralReply, words, words, st.integers(0, 255)),
    msg_id=st.sampled_from([jt808.TERMINAL_REPLY, jt808.PLATFORM_REPLY]),
    version=versions,
)
def test_general_replies_round_trip_both_ways(
    reply: GeneralReply, msg_id: int, version: int | None
) -> None:
    body = jt808.encode_general_reply(reply)

    assert jt808.decode_general_reply(_through_the_wire(msg_id, body, version).body) == reply


@given(data=st.data(), version=versions, serial=words, result=st.integers(0, 255))
def test_platform_reply_is_encode_frame_of_a_general_reply(
    data: st.DataObject, version: int | None, serial: int, result: int
) -> None:
    header = Header(data.draw(words), data.draw(phones(version)), data.draw(words), version, 0, 0)

    fast = jt808.platform_reply(header, result, serial)

    assert fast == jt808.encode_frame(
        jt808.PLATFORM_REPLY,
        header.phone,
        serial,
        jt808.encode_general_reply(GeneralReply(header.serial, header.msg_id, result)),
        version=version,
    )


@given(
    reply=st.builds(RegisterReply, words, st.integers(0, 4), _gbk_text(64, IDENTIFIER)),
    version=versions,
)
def test_a_register_reply_round_trips(reply: RegisterReply, version: int | None) -> None:
    body = jt808.encode_register_reply(reply)

    message = _through_the_wire(jt808.REGISTER_REPLY, body, version)
    assert jt808.decode_register_reply(message.body) == reply


@given(version=versions, data=st.data(), serial=words)
def test_a_heartbeat_round_trips(version: int | None, data: st.DataObject, serial: int) -> None:
    phone = data.draw(phones(version))

    message = jt808.decode_frame(
        inner(jt808.encode_frame(jt808.HEARTBEAT, phone, serial, version=version))
    )

    assert message.body == b""
    assert (message.header.msg_id, message.header.serial) == (jt808.HEARTBEAT, serial)
    assert message.header.phone == (phone.lstrip("0") or "0")


# --- Split messages --------------------------------------------------------------------------


@given(
    body=st.binary(min_size=2, max_size=6000),
    packet_size=st.integers(50, 1023),
    first_serial=words,
    version=versions,
    data=st.data(),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_split_message_is_reassembled_in_any_order_with_repeats(
    body: bytes, packet_size: int, first_serial: int, version: int | None, data: st.DataObject
) -> None:
    frames = jt808.encode_frames(
        0x0801, "13912345678", first_serial, body, version=version, packet_size=packet_size
    )
    messages = [jt808.decode_frame(inner(frame)) for frame in frames]
    if len(body) <= packet_size:
        assert len(messages) == 1
        assert messages[0].header.packet_total is None
    order = data.draw(st.permutations(messages))
    repeats = data.draw(st.lists(st.sampled_from(messages), max_size=3))
    reassembler = Reassembler()

    results = [reassembler.add(m) for m in [*repeats, *order]]

    done = [r for r in results if r is not None]
    if len(messages) == 1:
        assert len(done) == 1 + len(repeats)
    else:
        assert results[-1] is not None
        assert len(done) == 1
        assert all(m.header.packet_total == len(messages) for m in messages)
        assert [m.header.serial for m in messages] == [
            (first_serial + i) & 0xFFFF for i in range(len(messages))
        ]
    whole = done[-1]
    assert whole.body == body
    assert whole.header.msg_id == 0x0801
    assert whole.header.serial == first_serial
    assert whole.header.version == version
    assert whole.header.packet_total is None
    assert whole.header.packet_no is None
    assert whole.header.body_length == len(body)
    assert reassembler.pending == 0
    assert reassembler.held_bytes == 0


def test_the_reassembler_drops_the_oldest_when_full() -> None:
    def first_packet(serial: int, size: int = 10) -> Message:
        frame = jt808.encode_frame(0x0801, "1", serial, b"x" * size, packet=(3, 1))
        return jt808.decode_frame(inner(frame))

    reassembler = Reassembler(max_pending=2, max_bytes=10_000)
    for serial in (100, 200, 300):
        assert reassembler.add(first_packet(serial)) is None

    assert reassembler.pending == 2
    assert reassembler.dropped == 1
    # The first message (serial 100) is gone: its last two packets no longer complete it.
    for number in (2, 3):
        frame = jt808.encode_frame(0x0801, "1", 100 + number - 1, b"y", packet=(3, number))
        assert reassembler.add(jt808.decode_frame(inner(frame))) is None

    by_bytes = Reassembler(max_pending=100, max_bytes=2_500)
    for serial in range(0, 50, 5):
        by_bytes.add(first_packet(serial, size=1000))
        assert by_bytes.held_bytes <= 2_500
    assert by_bytes.pending == 2


def test_a_message_bigger_than_the_cap_can_never_complete() -> None:
    reassembler = Reassembler(max_pending=4, max_bytes=1_500)
    frames = jt808.encode_frames(0x0801, "1", 0, b"z" * 3000, packet_size=1000)

    results = [reassembler.add(jt808.decode_frame(inner(f))) for f in frames]

    assert results == [None, None, None]
    assert reassembler.held_bytes <= 1_500


def test_unsplit_messages_pass_through_and_bad_packet_numbers_are_refused() -> None:
    reassembler = Reassembler()
    plain = jt808.decode_frame(inner(frame_of(jt808.HEARTBEAT)))
    assert reassembler.add(plain) is plain

    single = jt808.decode_frame(inner(frame_of(0x0801, b"abc", packet=(1, 1))))
    whole = reassembler.add(single)
    assert whole is not None
    assert whole.body == b"abc"
    assert whole.header.packet_total is None

    for packet in ((3, 0), (3, 4), (0, 0)):
        message = jt808.decode_frame(inner(frame_of(0x0801, b"abc", packet=packet)))
        with pytest.raises(FrameError, match="bad packet number"):
            reassembler.add(message)
    assert reassembler.pending == 0


# --- The deframer ----------------------------------------------------------------------------


def _stream(rng: random.Random, count: int = 12) -> tuple[bytes, list[bytes]]:
    """Frames with escapes in them, some back to back (7E 7E), some with empty frames."""
    frames = []
    for i in range(count):
        body = rng.randbytes(rng.randint(0, 40)) + b"\x7e\x7d" * rng.randint(0, 2)
        frames.append(jt808.encode_frame(0x0900, "13912345678", i, body, version=i % 2 or None))
    stream = b""
    for frame in frames:
        stream += frame + (b"\x7e\x7e" if rng.random() < 0.2 else b"")
    return b"garbage" + stream, [inner(f) for f in frames]


def test_garbage_before_the_first_flag_is_dropped_and_counted() -> None:
    stream, expected = _stream(random.Random(1))
    deframer = Deframer()

    assert deframer.feed(stream) == expected
    assert deframer.dropped == len(b"garbage")
    assert deframer.buffered == 0
    assert deframer.feed(b"no flag here") == []
    assert deframer.buffered == len(b"no flag here")


def test_two_flags_in_a_row_give_no_empty_frame() -> None:
    deframer = Deframer()
    hb = inner(frame_of(jt808.HEARTBEAT))

    assert deframer.feed(b"\x7e\x7e\x7e\x7e") == []
    assert deframer.feed(b"\x7e" + hb + b"\x7e\x7e" + hb + b"\x7e") == [hb, hb]
    assert deframer.feed(b"\x7e\x7e") == []


def test_a_stream_split_at_every_byte_position_gives_the_same_frames() -> None:
    stream, expected = _stream(random.Random(2), count=5)
    assert Deframer().feed(stream) == expected

    for cut in range(len(stream) + 1):
        deframer = Deframer()
        assert deframer.feed(stream[:cut]) + deframer.feed(stream[cut:]) == expected, cut

    one_by_one = Deframer()
    assert [f for byte in stream for f in one_by_one.feed(bytes((byte,)))] == expected
    assert one_by_one.dropped == len(b"garbage")


@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_a_stream_in_random_chunks_gives_the_same_frames(seed: int, cuts: list[int]) -> None:
    stream, expected = _stream(random.Random(seed))
    deframer = Deframer()
    frames: list[bytes] = []
    at = 0
    for size in cuts * (len(stream) // sum(cuts) + 1):
        frames += deframer.feed(stream[at : at + size])
        at += size
        if at >= len(stream):
            break

    assert frames == expected
    assert [m.header.serial for m in map(jt808.decode_frame, frames)] == list(range(12))


def test_a_frame_growing_past_max_frame_raises_and_the_buffer_stays_bounded() -> None:
    deframer = Deframer(max_frame=100)

    assert deframer.feed(b"\x7e" + b"a" * 60) == []
    assert deframer.buffered == 60
    with pytest.raises(FrameError, match="longer than 100 bytes without a closing flag"):
        deframer.feed(b"a" * 41)
    assert deframer.buffered == 0
    # It picks up again at the next flag.
    hb = inner(frame_of(jt808.HEARTBEAT))
    assert deframer.feed(b"rest of the garbage\x7e" + hb + b"\x7e") == [hb]

    one_by_one = Deframer(max_frame=100)
    one_by_one.feed(b"\x7e")
    for _ in range(100):
        one_by_one.feed(b"b")
        assert one_by_one.buffered <= 100
    with pytest.raises(FrameError):
        one_by_one.feed(b"b")
    assert one_by_one.buffered == 0


def test_a_complete_frame_longer_than_max_frame_raises_too() -> None:
    deframer = Deframer(max_frame=100)

    with pytest.raises(FrameError, match="longer than 100 bytes"):
        deframer.feed(b"\x7e" + b"a" * 101 + b"\x7e")
    assert deframer.buffered == 0


def test_an_oversize_frame_carries_the_good_frames_of_the_same_data() -> None:
    hb = inner(frame_of(jt808.HEARTBEAT))
    deframer = Deframer(max_frame=100)
    deframer.feed(b"\x7e" + hb[:5])  # the first frame's start arrived in an earlier read

    with pytest.raises(jt808.OversizeFrame) as raised:
        deframer.feed(hb[5:] + b"\x7e" + b"a" * 101 + b"\x7e" + hb + b"\x7e" + b"a" * 7)

    assert raised.value.frames == [hb, hb]
    assert isinstance(raised.value, FrameError)
    assert deframer.buffered == 0


def test_peek_header_reads_the_header_of_a_frame_that_fails_to_decode() -> None:
    good = inner(jt808.encode_frame(jt808.LOCATION, "13912345678", 0x7E01, b"\x00" * 28))
    broken = good[:-1] + bytes((good[-1] ^ 0xFF,))  # a wrong checksum
    with pytest.raises(FrameError, match="checksum"):
        jt808.decode_frame(broken)

    header = jt808.peek_header(broken)

    assert header is not None
    assert (header.msg_id, header.phone, header.serial) == (jt808.LOCATION, "13912345678", 0x7E01)
    assert jt808.peek_header(b"\x01\x02") is None  # too short to hold a header
    assert jt808.peek_header(b"\x00\x02\x00\x00" + b"\xab" * 8) is None  # phone not BCD


def test_the_largest_legal_frame_fits_max_frame() -> None:
    worst = jt808.encode_frame(
        0x7E7E, "7" * 20, 0x7E7E, b"\x7e" * 1023, version=0x7E, packet=(0x7E7E, 0x7E7D)
    )

    assert len(inner(worst)) <= jt808.MAX_FRAME
    assert Deframer().feed(worst) == [inner(worst)]
    assert jt808.decode_frame(inner(worst)).body == b"\x7e" * 1023


# --- Fuzzing ---------------------------------------------------------------------------------

DECODERS = (
    jt808.decode_location,
    jt808.decode_batch,
    lambda body: jt808.decode_register(body, None),
    lambda body: jt808.decode_register(body, 1),
    lambda body: jt808.decode_authenticate(body, None),
    lambda body: jt808.decode_authenticate(body, 1),
    jt808.decode_general_reply,
    jt808.decode_register_reply,
)


def _every_decoder(body: bytes) -> None:
    for decode in DECODERS:
        with contextlib.suppress(FrameError):
            decode(body)


def _consume(deframer: Deframer, reassembler: Reassembler, data: bytes) -> int:
    """What the gateway does with bytes; only FrameError may come out. Returns frames seen."""
    try:
        frames = deframer.feed(data)
    except FrameError:
        frames = []
    assert deframer.buffered <= deframer.max_frame
    for frame in frames:
        try:
            message = jt808.decode_frame(frame)
            reassembler.add(message)
        except FrameError:
            continue
        finally:
            assert reassembler.pending <= reassembler.max_pending
            assert reassembler.held_bytes <= reassembler.max_bytes
        _every_decoder(message.body)
    return len(frames)


@given(st.lists(st.binary(max_size=300), max_size=8))
@settings(max_examples=300)
def test_random_bytes_raise_nothing_but_frame_errors(chunks: list[bytes]) -> None:
    deframer, reassembler = Deframer(max_frame=256), Reassembler(max_pending=3, max_bytes=2000)
    for chunk in chunks:
        _consume(deframer, reassembler, b"\x7e" + chunk)
        _every_decoder(chunk)


def _samples(rng: random.Random) -> list[tuple[int, bytes]]:
    when = dt.datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    locs = [
        Location(
            rng.getrandbits(32),
            rng.getrandbits(32),
            rng.uniform(-90, 90),
            rng.uniform(-180, 180),
            rng.getrandbits(16),
            rng.getrandbits(16) / 10,
            rng.randint(0, 359),
            when + dt.timedelta(seconds=rng.randint(0, 10**8)),
            {rng.randint(0x40, 0xFF): rng.randbytes(rng.randint(0, 6))},
            mileage_km=rng.getrandbits(32) / 10,
            signal=rng.randint(0, 31),
            satellites=rng.randint(0, 30),
        )
        for _ in range(6)
    ]
    return [
        (jt808.LOCATION, jt808.encode_location(locs[0])),
        (jt808.BATCH_LOCATION, jt808.encode_batch(locs[1:], type=1)),
        (jt808.REGISTER, jt808.encode_register(Register(44, 1, "YB", "M1", "T1", 1, "粤A1"), None)),
        (jt808.REGISTER, jt808.encode_register(Register(44, 1, "YB", "M1", "T1", 1, "粤A1"), 1)),
        (jt808.AUTHENTICATE, jt808.encode_authenticate(Authenticate("code", "8600", "v1"), 1)),
        (jt808.TERMINAL_REPLY, jt808.encode_general_reply(GeneralReply(1, 0x8103, 0))),
        (jt808.REGISTER_REPLY, jt808.encode_register_reply(RegisterReply(1, 0, "abc"))),
        (jt808.HEARTBEAT, b""),
    ]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if action == 0 and out:  # flip bits
            out[at % len(out)] ^= 1 << rng.randrange(8)
        elif action == 1 and out:  # a random byte, often a flag or escape
            out[at % len(out)] = rng.choice([0x7E, 0x7D, 0x01, 0x02, rng.randrange(256)])
        elif action == 2:  # insert
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif action == 3:  # delete
            del out[at : at + rng.randint(1, 8)]
        elif action == 4:  # truncate
            del out[at:]
        else:  # duplicate a slice
            out[at:at] = out[at : at + rng.randint(1, 16)]
    return bytes(out)


def test_twenty_thousand_mutated_frames_raise_nothing_but_frame_errors() -> None:
    rng = random.Random(808)
    deframer = Deframer()
    reassembler = Reassembler(max_pending=4, max_bytes=8_000)
    decoded = 0
    samples = _samples(rng)
    for round_ in range(20_000):
        if round_ % 500 == 0:
            samples = _samples(rng)
        msg_id, body = rng.choice(samples)
        version = rng.choice([None, 1])
        packet = (rng.randint(0, 4), rng.randint(0, 4)) if rng.random() < 0.1 else None
        if round_ % 2:
            # Mutate the body and frame it properly: the body decoders see the damage.
            body = _mutate(rng, body)[: jt808.MAX_BODY]
            wire = jt808.encode_frame(
                msg_id, "13912345678", round_ & 0xFFFF, body, version=version, packet=packet
            )
        else:
            # Mutate the wire bytes: the deframer and frame decoder see the damage.
            wire = _mutate(rng, jt808.encode_frame(msg_id, "1", 1, body, version=version))
        decoded += _consume(deframer, reassembler, wire)
        if round_ % 1000 == 0:
            assert deframer.buffered <= deframer.max_frame
    assert decoded > 10_000  # the fuzzing reached the decoders


# --- The benchmark ---------------------------------------------------------------------------


def test_the_benchmark_runs_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    figures = run_bench(smoke=True)

    for key in ("location_frames_per_s", "batch_frames_per_s", "platform_replies_per_s"):
        assert figures[key] > 0, key
    assert 0 < figures["share_escaped"] < 1
    assert "frames/s" in capsys.readouterr().out
