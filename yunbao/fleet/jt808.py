"""JT/T 808 codec (the 2013 and 2019 editions): framing, headers and the message bodies the
fleet gateway speaks. Pure Python, no Django, no I/O: the asyncio gateway feeds it bytes.

A frame on the wire is ``7E | header | [packet info] | body | check | 7E`` where, between
the flags, 0x7E travels as ``7D 02`` and 0x7D as ``7D 01``; the check is the XOR of every
unescaped header and body byte. See ``/work/shared/reference/protocols.md`` (summary) and
the standard itself.

- `Deframer` cuts a TCP byte stream into escaped frames (without the flags);
- `decode_frame` unescapes one, checks it and returns a `Message` (header + raw body);
- `decode_location`, `decode_batch`, `decode_register`, ... turn bodies into dataclasses,
  the matching `encode_*` functions do the reverse; `encode_frame` builds a whole frame;
- `Reassembler` joins split (multi-packet) messages; `platform_reply` builds the 0x8001
  answer on the hot path.

Anything malformed raises `FrameError` (a `ValueError`) with a message saying what is
wrong; the gateway logs it and decides (answer "bad", drop, or close the connection).
Encoding something that cannot be encoded (a body over 1023 bytes, a phone that is not
digits, a naive datetime) raises a plain `ValueError`: that is a bug in the caller.

The decoding path of a location (the gateway's hot path, tens of thousands per second)
avoids per-byte Python loops: the checksum is folded out of one big integer, escapes are
undone with `bytes.replace` only when 0x7D is present, BCD goes through `bytes.hex()`,
and BCD times are cached.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from dataclasses import dataclass, field

__all__ = [
    "ALARM_ACK",
    "AUTHENTICATE",
    "BAD",
    "BATCH_LOCATION",
    "FAIL",
    "HEARTBEAT",
    "LOCATION",
    "MAX_BODY",
    "MAX_FRAME",
    "OK",
    "PLATFORM_REPLY",
    "REGISTER",
    "REGISTER_REPLY",
    "TERMINAL_REPLY",
    "UNSUPPORTED",
    "Authenticate",
    "Deframer",
    "FrameError",
    "GeneralReply",
    "Header",
    "Location",
    "Message",
    "Reassembler",
    "Register",
    "RegisterReply",
    "coordinates_ok",
    "decode_authenticate",
    "decode_batch",
    "decode_frame",
    "decode_general_reply",
    "decode_location",
    "decode_register",
    "decode_register_reply",
    "encode_authenticate",
    "encode_batch",
    "encode_frame",
    "encode_frames",
    "encode_general_reply",
    "encode_location",
    "encode_register",
    "encode_register_reply",
    "platform_reply",
]

# --- Message ids and reply results -----------------------------------------------------------

TERMINAL_REPLY = 0x0001
PLATFORM_REPLY = 0x8001
HEARTBEAT = 0x0002
REGISTER = 0x0100
REGISTER_REPLY = 0x8100
AUTHENTICATE = 0x0102
LOCATION = 0x0200
BATCH_LOCATION = 0x0704

# General reply results (0x0001 / 0x8001); ALARM_ACK only from the platform.
OK = 0
FAIL = 1
BAD = 2
UNSUPPORTED = 3
ALARM_ACK = 4

# --- Sizes ------------------------------------------------------------------------------------

FLAG = b"\x7e"
ESCAPE = b"\x7d"
HEADER_2013 = 12
HEADER_2019 = 17
PACKET_INFO = 4
# Body attributes bits 0-9 hold the body length, so a body is at most 1023 bytes.
MAX_BODY = 0x3FF
# The longest legal frame between the flags: a 2019 header with packet info, the largest
# body and the check byte, every byte of it escaped (doubled). Anything longer is garbage.
MAX_FRAME = 2 * (HEADER_2019 + PACKET_INFO + MAX_BODY + 1)

_LENGTH_MASK = 0x03FF
_ENCRYPTION_SHIFT = 10
_ENCRYPTION_MASK = 0x7
_SPLIT_BIT = 0x2000
_VERSION_BIT = 0x4000

# Location status bits.
STATUS_ACC = 1 << 0
STATUS_POSITIONED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3

# Location extra items with a typed field.
EXTRA_MILEAGE = 0x01
EXTRA_FUEL = 0x02
EXTRA_SIGNAL = 0x30
EXTRA_SATELLITES = 0x31

_UTC = dt.UTC
# The terminal's clock: BCD times are Beijing time (UTC+8, no daylight saving).
_CHINA = dt.timezone(dt.timedelta(hours=8))
_EIGHT_HOURS = dt.timedelta(hours=8)

_HH = struct.Struct(">HH")
_HEAD_2013 = struct.Struct(">HH6sH")
_HEAD_2019 = struct.Struct(">HHB10sH")
_LOCATION = struct.Struct(">IIIIHHH6s")
_GENERAL_REPLY = struct.Struct(">HHB")
_REPLY_TAIL = struct.Struct(">HHHBB")  # serial, reply serial, reply id, result, check
_REGISTER_REPLY = struct.Struct(">HB")
_BATCH_HEAD = struct.Struct(">HB")
_REGISTER_2013 = struct.Struct(">HH5s20s7sB")
_REGISTER_2019 = struct.Struct(">HH11s30s30sB")
_H = struct.Struct(">H")


class FrameError(ValueError):
    """A frame or body that is not valid JT/T 808; the message says what is wrong."""


class OversizeFrame(FrameError):
    """`Deframer.feed` met a frame longer than its limit. `frames` holds the well-sized
    frames the same data completed, in order, so the caller can still handle what a
    terminal sent next to the oversized one before it closes the connection."""

    def __init__(self, message: str, frames: list[bytes]) -> None:
        super().__init__(message)
        self.frames = frames


# --- Checksum and escaping --------------------------------------------------------------------


def _xor(data: bytes) -> int:
    """The XOR of every byte of `data`, without a per-byte loop: read the bytes as one big
    integer and fold it onto itself. After ``n ^= n >> 8·2^k`` for k = K-1 … 0 the lowest
    byte is the XOR of the bytes at every offset 0 … 2^K - 1 (each offset is exactly one sum
    of distinct powers of two), so no masking is needed between the steps."""
    n = int.from_bytes(data)
    if len(data) > 64:
        shift = 1 << ((len(data) - 1).bit_length() + 2)  # half the width, in bits
        while shift > 256:
            n ^= n >> shift
            shift >>= 1
    n ^= n >> 256
    n ^= n >> 128
    n ^= n >> 64
    n = (n ^ (n >> 32)) & 0xFFFFFFFF
    n ^= n >> 16
    n ^= n >> 8
    return n & 0xFF


def _unescape(frame: bytes) -> bytes:
    # Every 0x7D must start an escape: count them against the two legal escapes. The
    # escapes cannot overlap (their second byte is never 0x7D), so the counts add up.
    escapes = frame.count(b"\x7d\x02")
    ones = frame.count(b"\x7d\x01")
    if frame.count(ESCAPE) != escapes + ones:
        raise FrameError("bad escape: 0x7D not followed by 0x01 or 0x02")
    # 7D 02 first: turning 7D 01 into 7D first would make "7D 01 02" read as an escaped 7E.
    if escapes:
        frame = frame.replace(b"\x7d\x02", FLAG)
    if ones:
        frame = frame.replace(b"\x7d\x01", ESCAPE)
    return frame


def _escape(raw: bytes) -> bytes:
    # 7D first, so the 7D of each new "7D 02" is not escaped again.
    if ESCAPE in raw:
        raw = raw.replace(ESCAPE, b"\x7d\x01")
    if FLAG in raw:
        raw = raw.replace(FLAG, b"\x7d\x02")
    return raw


# --- Framing ----------------------------------------------------------------------------------


class Deframer:
    """Splits a TCP byte stream into frames. feed(data) -> list[bytes]: the frames completed
    by this data, each still escaped and WITHOUT the 0x7E flags. Bytes before the first flag
    are garbage and dropped (counted in .dropped). A frame growing past max_frame without a
    closing flag raises FrameError (the gateway then closes the connection); the buffer
    never holds more than max_frame bytes. Two flags in a row (7E 7E: end of one frame and
    start of the next, or an empty frame) produce no empty frame.

    Every 0x7E is a boundary (it never occurs inside an escaped frame), so the stream
    resynchronises by itself after a lost flag. A complete frame longer than max_frame
    raises too, so the outcome does not depend on how TCP cut the stream. The error is an
    `OversizeFrame` carrying the well-sized frames of the same data. After it the buffer is
    emptied and bytes up to the next flag are dropped.
    """

    __slots__ = ("_buf", "_started", "dropped", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self.max_frame = max_frame
        self.dropped = 0
        self._buf = b""
        self._started = False

    @property
    def buffered(self) -> int:
        """Bytes held for the frame not yet closed (always ≤ max_frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if not self._started:
            start = data.find(FLAG)
            if start < 0:
                self.dropped += len(data)
                return []
            self.dropped += start
            data = data[start + 1 :]
            self._started = True
        if self._buf:
            data = self._buf + data
        parts = data.split(FLAG)
        rest = parts.pop()
        # Only a chunk longer than max_frame can hold a part longer than max_frame.
        if len(data) > self.max_frame:
            longest = max(len(rest), *map(len, parts)) if parts else len(rest)
            if longest > self.max_frame:
                self._buf = b""
                self._started = False
                raise OversizeFrame(
                    f"frame longer than {self.max_frame} bytes without a closing flag"
                    if len(rest) > self.max_frame
                    else f"frame longer than {self.max_frame} bytes",
                    [part for part in parts if 0 < len(part) <= self.max_frame],
                )
        self._buf = bytes(rest)
        return [part for part in parts if part]


# --- Header and frame -------------------------------------------------------------------------


@dataclass(slots=True)
class Header:
    msg_id: int
    phone: str  # BCD digits, leading zeros stripped, "0" if all zero
    serial: int
    version: int | None  # None for 2013; the protocol-version byte for 2019
    encrypted: int  # body attributes bits 10-12
    body_length: int
    packet_total: int | None = None  # only for split messages (attributes bit 13)
    packet_no: int | None = None


@dataclass(slots=True)
class Message:
    header: Header
    body: bytes


def peek_header(frame: bytes) -> Header | None:
    """The header of an escaped frame that failed to decode (bad checksum, wrong length…),
    if it can be read at all, so the platform can answer BAD with the right serial; None
    for garbage. Nothing is checked beyond the header's own shape."""
    # Leniently unescaped: a frame refused for a bad escape still deserves its answer.
    raw = frame.replace(b"\x7d\x02", FLAG).replace(b"\x7d\x01", ESCAPE)
    try:
        msg_id, attrs = _HH.unpack_from(raw)
        if attrs & _VERSION_BIT:
            msg_id, attrs, version, bcd, serial = _HEAD_2019.unpack_from(raw)
        else:
            msg_id, attrs, bcd, serial = _HEAD_2013.unpack_from(raw)
            version = None
    except struct.error:
        return None
    phone = bcd.hex()
    if not phone.isdigit():
        return None
    return Header(msg_id, phone.lstrip("0") or "0", serial, version, 0, 0)


def decode_frame(frame: bytes) -> Message:
    """One escaped frame (the bytes between the flags) -> its header and raw body."""
    if ESCAPE in frame:
        frame = _unescape(frame)
    size = len(frame)
    if size < HEADER_2013 + 1:
        raise FrameError(f"frame too short: {size} bytes")
    check = _xor(frame)
    if check:
        raise FrameError(
            f"bad checksum: computed 0x{check ^ frame[-1]:02X}, frame says 0x{frame[-1]:02X}"
        )
    msg_id, attrs = _HH.unpack_from(frame)
    if attrs & _VERSION_BIT:
        if size < HEADER_2019 + 1:
            raise FrameError(f"frame too short for a 2019 header: {size} bytes")
        msg_id, attrs, version, bcd, serial = _HEAD_2019.unpack_from(frame)
        start: int = HEADER_2019
    else:
        msg_id, attrs, bcd, serial = _HEAD_2013.unpack_from(frame)
        version = None
        start = HEADER_2013
    phone = bcd.hex()
    if not phone.isdigit():
        raise FrameError(f"terminal phone is not BCD: {phone}")
    phone = phone.lstrip("0") or "0"
    total = number = None
    if attrs & _SPLIT_BIT:
        if size < start + PACKET_INFO + 1:
            raise FrameError("frame too short for its packet info")
        total, number = _HH.unpack_from(frame, start)
        start += PACKET_INFO
    body = frame[start:-1]
    length = attrs & _LENGTH_MASK
    if len(body) != length:
        raise FrameError(f"wrong body length: header says {length}, frame has {len(body)}")
    return Message(
        Header(
            msg_id,
            phone,
            serial,
            version,
            (attrs >> _ENCRYPTION_SHIFT) & _ENCRYPTION_MASK,
            length,
            total,
            number,
        ),
        body,
    )


def _phone_bcd(phone: str, version: int | None) -> bytes:
    width = 12 if version is None else 20
    if not (phone.isascii() and phone.isdigit()) or len(phone) > width:
        raise ValueError(f"terminal phone must be at most {width} digits: {phone!r}")
    return bytes.fromhex(phone.zfill(width))


def encode_frame(
    msg_id: int,
    phone: str,
    serial: int,
    body: bytes = b"",
    *,
    version: int | None = None,
    packet: tuple[int, int] | None = None,
    encrypted: int = 0,
) -> bytes:
    """A complete escaped frame, both flags included. `version` None gives a 2013 header, an
    int a 2019 header with that protocol-version byte; `packet` is (total, number) for one
    packet of a split message; `encrypted` goes to attributes bits 10-12."""
    if len(body) > MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes: at most {MAX_BODY} fit in a frame")
    if not 0 <= encrypted <= _ENCRYPTION_MASK:
        raise ValueError(f"encryption must be 0-7: {encrypted}")
    attrs = len(body) | (encrypted << _ENCRYPTION_SHIFT)
    if packet is not None:
        attrs |= _SPLIT_BIT
    bcd = _phone_bcd(phone, version)
    try:
        if version is None:
            head = _HEAD_2013.pack(msg_id, attrs, bcd, serial)
        else:
            head = _HEAD_2019.pack(msg_id, attrs | _VERSION_BIT, version, bcd, serial)
        if packet is not None:
            head += _HH.pack(*packet)
    except struct.error as exc:
        raise ValueError(f"header field out of range: {exc}") from None
    raw = head + body
    return FLAG + _escape(raw + bytes((_xor(raw),))) + FLAG


def encode_frames(
    msg_id: int,
    phone: str,
    first_serial: int,
    body: bytes,
    *,
    version: int | None = None,
    packet_size: int = MAX_BODY,
) -> list[bytes]:
    """`body` as one frame, or, if longer than `packet_size`, as a split message: packets
    numbered from 1, with consecutive serials from `first_serial` (as the standard wants)."""
    if not 1 <= packet_size <= MAX_BODY:
        raise ValueError(f"packet size must be 1-{MAX_BODY}: {packet_size}")
    if len(body) <= packet_size:
        return [encode_frame(msg_id, phone, first_serial, body, version=version)]
    chunks = [body[i : i + packet_size] for i in range(0, len(body), packet_size)]
    if len(chunks) > 0xFFFF:
        raise ValueError("body too long even for a split message")
    return [
        encode_frame(
            msg_id,
            phone,
            (first_serial + i) & 0xFFFF,
            chunk,
            version=version,
            packet=(len(chunks), i + 1),
        )
        for i, chunk in enumerate(chunks)
    ]


# The constant start of a platform reply (id, attributes, [version], phone) and its XOR,
# per (phone, version): every terminal gets many replies.
_REPLY_PREFIXES: dict[tuple[str, int | None], tuple[bytes, int]] = {}
_REPLY_PREFIX_LIMIT = 65_536


def platform_reply(header: Header, result: int, serial: int) -> bytes:
    """The complete 0x8001 frame answering `header` (same phone, same version style), with
    the platform's own `serial`."""
    key = (header.phone, header.version)
    cached = _REPLY_PREFIXES.get(key)
    if cached is None:
        bcd = _phone_bcd(header.phone, header.version)
        if header.version is None:
            prefix = _HH.pack(PLATFORM_REPLY, 5) + bcd
        else:
            prefix = _HH.pack(PLATFORM_REPLY, 5 | _VERSION_BIT) + bytes((header.version,)) + bcd
        if len(_REPLY_PREFIXES) >= _REPLY_PREFIX_LIMIT:
            _REPLY_PREFIXES.clear()
        cached = _REPLY_PREFIXES[key] = (prefix, _xor(prefix))
    prefix, check = cached
    replied, msg_id = header.serial, header.msg_id
    check ^= serial ^ (serial >> 8) ^ replied ^ (replied >> 8) ^ msg_id ^ (msg_id >> 8) ^ result
    try:
        raw = prefix + _REPLY_TAIL.pack(serial, replied, msg_id, result, check & 0xFF)
    except struct.error as exc:
        raise ValueError(f"reply field out of range: {exc}") from None
    if ESCAPE in raw or FLAG in raw:
        raw = _escape(raw)
    return FLAG + raw + FLAG


# --- Split messages ---------------------------------------------------------------------------

# What one stored packet costs beyond its body (dict slot, bytes object), for the byte cap.
_PACKET_OVERHEAD = 64


@dataclass(slots=True)
class _Pending:
    first: Header
    packets: dict[int, bytes]
    size: int


class Reassembler:
    """Joins split (multi-packet) messages. add(message) returns the whole message once all
    its packets are in (at once for a message that is not split), else None.

    Packets of one message share phone, message id and packet count, and — as the standard
    requires — carry consecutive serials, so packet n of the message whose first packet has
    serial s has serial s + n - 1. The whole message gets the first packet's header without
    the packet info. Bounded: at most `max_pending` incomplete messages and `max_bytes`
    held (.held_bytes: bodies plus a per-packet overhead); the oldest incomplete message
    is dropped first (counted in .dropped). A message larger than `max_bytes` can never
    complete. The gateway keeps one per connection, so the defaults are per terminal.
    """

    __slots__ = ("_pending", "dropped", "held_bytes", "max_bytes", "max_pending")

    def __init__(self, max_pending: int = 8, max_bytes: int = 256 * 1024) -> None:
        if max_pending < 1 or max_bytes < 1:
            raise ValueError("max_pending and max_bytes must be positive")
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self.dropped = 0
        self.held_bytes = 0
        self._pending: dict[tuple[str, int, int, int], _Pending] = {}

    @property
    def pending(self) -> int:
        """Incomplete messages held."""
        return len(self._pending)

    def add(self, message: Message) -> Message | None:
        header = message.header
        total, number = header.packet_total, header.packet_no
        if total is None or number is None:
            return message
        if total < 1 or not 1 <= number <= total:
            raise FrameError(f"bad packet number {number} of {total}")
        if total == 1:
            return Message(self._whole(header, header.serial, len(message.body)), message.body)
        first_serial = (header.serial - number + 1) & 0xFFFF
        key = (header.phone, header.msg_id, total, first_serial)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = _Pending(header, {}, 0)
        old = entry.packets.get(number)
        if old is not None:  # sent again: the newer copy wins
            entry.size -= len(old) + _PACKET_OVERHEAD
            self.held_bytes -= len(old) + _PACKET_OVERHEAD
        if number == 1:
            entry.first = header
        entry.packets[number] = message.body
        cost = len(message.body) + _PACKET_OVERHEAD
        entry.size += cost
        self.held_bytes += cost
        if len(entry.packets) == total:
            del self._pending[key]
            self.held_bytes -= entry.size
            body = b"".join(entry.packets[n] for n in range(1, total + 1))
            return Message(self._whole(entry.first, first_serial, len(body)), body)
        while self._pending and (
            len(self._pending) > self.max_pending or self.held_bytes > self.max_bytes
        ):
            oldest = next(iter(self._pending))
            self.held_bytes -= self._pending.pop(oldest).size
            self.dropped += 1
        return None

    @staticmethod
    def _whole(first: Header, serial: int, length: int) -> Header:
        return Header(first.msg_id, first.phone, serial, first.version, first.encrypted, length)


# --- Bodies -----------------------------------------------------------------------------------


def coordinates_ok(lat: float, lon: float) -> bool:
    """Finite and on the globe: latitude within [-90, 90], longitude within [-180, 180]."""
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


@dataclass(slots=True)
class Location:
    alarm: int
    status: int
    lat: float  # signed degrees: status bit 2 (south) makes it negative
    lon: float  # signed degrees: status bit 3 (west) makes it negative
    altitude: int  # metres
    speed_kmh: float
    course: int  # degrees, 0-359
    time: dt.datetime  # aware, UTC
    extras: dict[int, bytes] = field(default_factory=dict)  # every TLV extra item, raw
    mileage_km: float | None = None  # 0x01
    fuel_l: float | None = None  # 0x02
    satellites: int | None = None  # 0x31
    signal: int | None = None  # 0x30

    @property
    def valid(self) -> bool:
        """The terminal had a position fix (status bit 1)."""
        return bool(self.status & STATUS_POSITIONED)


# BCD time -> aware UTC datetime. Thousands of terminals report the same few seconds, and
# building a datetime costs more than a dict lookup; emptied when full.
_TIMES: dict[bytes, dt.datetime] = {}
_TIMES_LIMIT = 4096


def _bcd_time(bcd: bytes) -> dt.datetime:
    text = bcd.hex()
    try:
        local = dt.datetime(
            2000 + int(text[0:2]),
            int(text[2:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            tzinfo=_UTC,
        )
    except ValueError:
        raise FrameError(f"bad BCD time: {text}") from None
    if len(_TIMES) >= _TIMES_LIMIT:
        _TIMES.clear()
    value = _TIMES[bcd] = local - _EIGHT_HOURS
    return value


def _time_bcd(when: dt.datetime) -> bytes:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("location time must be an aware datetime")
    local = when.astimezone(_CHINA)
    if not 2000 <= local.year <= 2099:
        raise ValueError(f"location time outside 2000-2099 (UTC+8): {when.isoformat()}")
    return bytes.fromhex(local.strftime("%y%m%d%H%M%S"))


def decode_location(body: bytes) -> Location:
    """A 0x0200 body (also each item of a 0x0704 batch)."""
    if len(body) < 28:
        raise FrameError(f"location body too short: {len(body)} bytes")
    alarm, status, lat, lon, altitude, speed, course, bcd = _LOCATION.unpack_from(body)
    time = _TIMES.get(bcd) or _bcd_time(bcd)
    extras: dict[int, bytes] = {}
    mileage = fuel = satellites = signal = None
    end = len(body)
    if end > 28:
        at = 28
        while at < end:
            if at + 2 > end:
                raise FrameError(f"location extra item cut short at byte {at}")
            stop = at + 2 + body[at + 1]
            if stop > end:
                raise FrameError(f"location extra item 0x{body[at]:02X} runs past the body")
            extras[body[at]] = body[at + 2 : stop]
            at = stop
        # Typed fields only when the item has its standard size; the raw bytes stay in
        # `extras` either way (vendors reuse ids).
        item = extras.get(EXTRA_MILEAGE)
        if item is not None and len(item) == 4:
            mileage = int.from_bytes(item) / 10
        item = extras.get(EXTRA_FUEL)
        if item is not None and len(item) == 2:
            fuel = int.from_bytes(item) / 10
        item = extras.get(EXTRA_SIGNAL)
        if item is not None and len(item) == 1:
            signal = item[0]
        item = extras.get(EXTRA_SATELLITES)
        if item is not None and len(item) == 1:
            satellites = item[0]
    return Location(
        alarm,
        status,
        -lat / 1e6 if status & STATUS_SOUTH else lat / 1e6,
        -lon / 1e6 if status & STATUS_WEST else lon / 1e6,
        altitude,
        speed / 10,
        course,
        time,
        extras,
        mileage,
        fuel,
        satellites,
        signal,
    )


def _scaled(value: float, scale: int, what: str) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite: {value}")
    return round(abs(value) * scale)


def encode_location(loc: Location) -> bytes:
    """A 0x0200 body. The signs of lat/lon set the south/west status bits (a zero keeps
    them as `status` has them). Extras are
    written in `extras` order; a typed field that is not None replaces its raw item."""
    status = loc.status
    # A zero degree has no sign: the status bit stays as it was, so it round-trips.
    if loc.lat < 0:
        status |= STATUS_SOUTH
    elif loc.lat > 0:
        status &= ~STATUS_SOUTH
    if loc.lon < 0:
        status |= STATUS_WEST
    elif loc.lon > 0:
        status &= ~STATUS_WEST
    items = dict(loc.extras)
    if loc.mileage_km is not None:
        items[EXTRA_MILEAGE] = _scaled(loc.mileage_km, 10, "mileage").to_bytes(4)
    if loc.fuel_l is not None:
        items[EXTRA_FUEL] = _scaled(loc.fuel_l, 10, "fuel").to_bytes(2)
    if loc.signal is not None:
        items[EXTRA_SIGNAL] = bytes((loc.signal,))
    if loc.satellites is not None:
        items[EXTRA_SATELLITES] = bytes((loc.satellites,))
    try:
        head = _LOCATION.pack(
            loc.alarm,
            status,
            _scaled(loc.lat, 1_000_000, "latitude"),
            _scaled(loc.lon, 1_000_000, "longitude"),
            loc.altitude,
            _scaled(loc.speed_kmh, 10, "speed"),
            loc.course,
            _time_bcd(loc.time),
        )
        tail = b"".join(bytes((key, len(value))) + value for key, value in items.items())
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"location field out of range: {exc}") from None
    return head + tail


def decode_batch(body: bytes) -> tuple[int, list[Location]]:
    """A 0x0704 body -> (type: 0 normal, 1 blind-area backfill; the locations)."""
    if len(body) < 3:
        raise FrameError(f"batch body too short: {len(body)} bytes")
    count, kind = _BATCH_HEAD.unpack_from(body)
    items: list[Location] = []
    at, end = 3, len(body)
    while at < end:
        if at + 2 > end:
            raise FrameError(f"batch item length cut short at byte {at}")
        stop = at + 2 + _H.unpack_from(body, at)[0]
        if stop > end:
            raise FrameError(f"batch item {len(items) + 1} runs past the body")
        items.append(decode_location(body[at + 2 : stop]))
        at = stop
    if len(items) != count:
        raise FrameError(f"batch says {count} items, body has {len(items)}")
    return kind, items


def encode_batch(items: list[Location], type: int = 0) -> bytes:
    """A 0x0704 body of `items` (type 0 normal, 1 blind-area backfill)."""
    parts = [_BATCH_HEAD.pack(len(items), type)]
    for item in items:
        body = encode_location(item)
        parts.append(_H.pack(len(body)) + body)
    return b"".join(parts)


def _text(raw: bytes, what: str) -> str:
    # Fixed-width fields are C strings: the text ends at the first NUL (what follows is
    # padding, sometimes garbage); spaces and 0xFF (never GBK) pad too. No NUL survives,
    # which matters: PostgreSQL cannot store one in text or JSON.
    raw = raw.split(b"\x00", 1)[0].rstrip(b"\xff").strip(b" ")
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError:
        raise FrameError(f"{what} is not GBK text") from None


def _padded(text: str, width: int | None, what: str) -> bytes:
    try:
        raw = text.encode("gbk")
    except UnicodeEncodeError:
        raise ValueError(f"{what} cannot be written in GBK: {text!r}") from None
    if width is None:
        return raw
    if len(raw) > width:
        raise ValueError(f"{what} longer than {width} bytes: {text!r}")
    return raw.ljust(width, b"\x00")


@dataclass(slots=True)
class Register:
    province: int
    city: int
    maker: str
    model: str
    terminal_id: str
    plate_colour: int
    plate: str


def _register_struct(version: int | None) -> struct.Struct:
    return _REGISTER_2013 if version is None else _REGISTER_2019


def decode_register(body: bytes, version: int | None) -> Register:
    """A 0x0100 body; 2013 widths maker 5, model 20, terminal id 7; 2019: 11, 30, 30."""
    shape = _register_struct(version)
    if len(body) < shape.size:
        edition = "2013" if version is None else "2019"
        raise FrameError(f"register body too short for {edition}: {len(body)} bytes")
    province, city, maker, model, terminal, colour = shape.unpack_from(body)
    return Register(
        province,
        city,
        _text(maker, "maker"),
        _text(model, "model"),
        _text(terminal, "terminal id"),
        colour,
        _text(body[shape.size :], "plate"),
    )


def encode_register(reg: Register, version: int | None) -> bytes:
    wide = version is not None
    try:
        head = _register_struct(version).pack(
            reg.province,
            reg.city,
            _padded(reg.maker, 11 if wide else 5, "maker"),
            _padded(reg.model, 30 if wide else 20, "model"),
            _padded(reg.terminal_id, 30 if wide else 7, "terminal id"),
            reg.plate_colour,
        )
    except struct.error as exc:
        raise ValueError(f"register field out of range: {exc}") from None
    return head + _padded(reg.plate, None, "plate")


@dataclass(slots=True)
class Authenticate:
    code: str
    imei: str = ""
    software_version: str = ""


def decode_authenticate(body: bytes, version: int | None) -> Authenticate:
    """A 0x0102 body. 2013: the whole body is the code; 2019: length BYTE, code, IMEI[15],
    software version[20]."""
    if version is None:
        return Authenticate(_text(body, "auth code"))
    if not body:
        raise FrameError("authenticate body is empty")
    size = body[0]
    if len(body) != 1 + size + 35:
        raise FrameError(
            f"authenticate body of {len(body)} bytes, expected {1 + size + 35} "
            f"for a {size}-byte code"
        )
    return Authenticate(
        _text(body[1 : 1 + size], "auth code"),
        _text(body[1 + size : 16 + size], "IMEI"),
        _text(body[16 + size :], "software version"),
    )


def encode_authenticate(auth: Authenticate, version: int | None) -> bytes:
    code = _padded(auth.code, None, "auth code")
    if version is None:
        return code
    if len(code) > 255:
        raise ValueError("auth code longer than 255 bytes")
    return (
        bytes((len(code),))
        + code
        + _padded(auth.imei, 15, "IMEI")
        + _padded(auth.software_version, 20, "software version")
    )


@dataclass(slots=True)
class GeneralReply:
    serial: int  # the serial of the message answered
    msg_id: int  # the id of the message answered
    result: int


def decode_general_reply(body: bytes) -> GeneralReply:
    """A 0x0001 or 0x8001 body."""
    if len(body) != _GENERAL_REPLY.size:
        raise FrameError(f"general reply body of {len(body)} bytes, expected 5")
    return GeneralReply(*_GENERAL_REPLY.unpack(body))


def encode_general_reply(reply: GeneralReply) -> bytes:
    try:
        return _GENERAL_REPLY.pack(reply.serial, reply.msg_id, reply.result)
    except struct.error as exc:
        raise ValueError(f"general reply field out of range: {exc}") from None


@dataclass(slots=True)
class RegisterReply:
    serial: int  # the serial of the register message answered
    # 0 ok, 1 vehicle registered, 2 no such vehicle, 3 terminal registered, 4 no such terminal
    result: int
    auth_code: str = ""


def decode_register_reply(body: bytes) -> RegisterReply:
    """A 0x8100 body."""
    if len(body) < _REGISTER_REPLY.size:
        raise FrameError(f"register reply body too short: {len(body)} bytes")
    serial, result = _REGISTER_REPLY.unpack_from(body)
    return RegisterReply(serial, result, _text(body[_REGISTER_REPLY.size :], "auth code"))


def encode_register_reply(reply: RegisterReply) -> bytes:
    try:
        head = _REGISTER_REPLY.pack(reply.serial, reply.result)
    except struct.error as exc:
        raise ValueError(f"register reply field out of range: {exc}") from None
    return head + _padded(reply.auth_code, None, "auth code")
