"""OsmAnd protocol request parsing (Traccar Client and many phone trackers, over HTTP).

Two variants reach the gateway (see ``/work/shared/reference/protocols.md``):

- query string or form: ``GET|POST /?id=DEVICE&lat=..&lon=..&timestamp=..&speed=..``;
- JSON (newer Traccar Client): ``{"device_id": ..., "location": {"timestamp": ...,
  "coords": {...}, "battery": {...}, ...}}``.

`parse_request` picks the variant and returns an `OsmandFix`: WGS-84 degrees, an aware UTC
time, km/h, battery in percent, everything else the tracker said in `attributes`. Pure
Python, no Django: the gateway looks the device up, stores the fix and answers.

Anything unusable raises `OsmandError` with an HTTP status (400 here; 404 for an unknown
device is the gateway's call) and a plain English message for the log. Free text the
tracker sends is kept as data, never interpreted; NUL characters are refused because
PostgreSQL cannot store them in text or JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_ID_LENGTH",
    "MAX_TEXT_LENGTH",
    "OsmandError",
    "OsmandFix",
    "parse_json",
    "parse_params",
    "parse_request",
]

KNOT_KMH = 1.852  # 1 knot = 1.852 km/h exactly
MS_KMH = 3.6
# Numbers up to this are seconds since the epoch, larger ones milliseconds (Traccar's rule).
SECONDS_LIMIT = 2**31
# Device.identifier holds 64 characters.
MAX_ID_LENGTH = 64
# Bounds on what a tracker may make us store per fix.
MAX_ATTRIBUTES = 64
MAX_TEXT_LENGTH = 1024
MAX_JSON_DEPTH = 16

# Keys the query/form variant understands; every other key becomes an attribute.
_KNOWN = frozenset(
    {
        "id",
        "deviceid",
        "lat",
        "lon",
        "location",
        "timestamp",
        "speed",
        "bearing",
        "heading",
        "altitude",
        "accuracy",
        "batt",
    }
)
# A plain decimal number: no "nan", "inf", "0x10" or "1_000" (all of which float() takes).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# An ISO time whose "+08:00" lost its plus to URL decoding (a bare "+" in a query is a space).
_LOST_PLUS = re.compile(r"(.*T.*\d) (\d\d(?::?\d\d)?)")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class OsmandError(ValueError):
    """A request that cannot become a fix: `status` is the HTTP answer, the message why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class OsmandFix:
    device_id: str
    lat: float
    lon: float
    fixed_at: dt.datetime  # aware, UTC
    speed_kmh: float | None = None
    course: float | None = None  # degrees clockwise from north, [0, 360)
    altitude: float | None = None  # metres
    accuracy: float | None = None  # metres
    battery: float | None = None  # percent, 0-100
    valid: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)


def _bad(message: str) -> OsmandError:
    return OsmandError(400, message)


def _clean_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise _bad(f"NUL character in {what}")
    if len(value) > MAX_TEXT_LENGTH:
        raise _bad(f"{what} longer than {MAX_TEXT_LENGTH} characters")
    return value


def _device_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad("missing id")
    text = str(value).strip()
    if not text:
        raise _bad("missing id")
    if len(text) > MAX_ID_LENGTH:
        raise _bad(f"id longer than {MAX_ID_LENGTH} characters")
    if not text.isprintable():
        raise _bad("id contains control characters")
    return text


def _number(text: str, what: str) -> float:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise _bad(f"{what} is not a number: {text[:40]!r}")
    value = float(text)
    if not math.isfinite(value):  # "1e999"
        raise _bad(f"{what} is not a finite number: {text[:40]!r}")
    return value


def _json_number(value: Any, what: str) -> float | None:
    """A JSON number (None when absent); booleans and strings are refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{what} must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise _bad(f"{what} is not a finite number")
    return number


def _coordinates(lat: float, lon: float) -> tuple[float, float]:
    if not math.isfinite(lat) or not math.isfinite(lon):
        raise _bad("latitude and longitude must be finite numbers")
    if not -90 <= lat <= 90:
        raise _bad(f"latitude out of range [-90, 90]: {lat}")
    if not -180 <= lon <= 180:
        raise _bad(f"longitude out of range [-180, 180]: {lon}")
    return lat, lon


def _course(value: float | None) -> float | None:
    # Trackers send -1 for "no bearing"; 360 is north again.
    return None if value is None or value < 0 else value % 360


def _aware_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=dt.UTC)  # a time without a zone is UTC (Traccar)
    return value.astimezone(dt.UTC)


def _timestamp(text: str) -> dt.datetime:
    """Seconds (< 2^31) or milliseconds since the epoch, ISO 8601, or "yyyy-MM-dd HH:mm:ss"
    (UTC)."""
    text = text.strip()
    try:
        if _NUMBER.fullmatch(text) and "e" not in text.lower():
            number = float(text)
            if number < 0:
                raise _bad(f"timestamp before 1970: {text[:40]!r}")
            seconds = number if number < SECONDS_LIMIT else number / 1000
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        lost_plus = _LOST_PLUS.fullmatch(text)
        if lost_plus:
            text = f"{lost_plus[1]}+{lost_plus[2]}"
        return _aware_utc(dt.datetime.fromisoformat(text))
    except (ValueError, OverflowError, OSError) as exc:
        if isinstance(exc, OsmandError):
            raise
        raise _bad(f"bad timestamp: {text[:40]!r}") from None


def _flag(text: str, what: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _bad(f"{what} must be true or false: {text[:40]!r}")


def _battery(percent: float | None) -> float | None:
    if percent is None or percent < 0:  # -1: unknown
        return None
    if percent > 100:
        raise _bad(f"battery level over 100 %: {percent}")
    return percent


def parse_params(params: Mapping[str, str], now: dt.datetime) -> OsmandFix:
    """The query string or form variant. An empty value counts as absent. `now` (aware)
    stands in for a missing timestamp."""
    values = {key: value for key, value in params.items() if value != ""}

    def number(key: str) -> float | None:
        text = values.get(key)
        return None if text is None else _number(text, key)

    device = _device_id(values.get("id") or values.get("deviceid"))
    if "location" in values and ("lat" not in values or "lon" not in values):
        parts = values["location"].split(",")
        if len(parts) != 2:
            raise _bad(f"location must be lat,lon: {values['location'][:40]!r}")
        lat, lon = _number(parts[0], "location latitude"), _number(parts[1], "location longitude")
    elif "lat" in values and "lon" in values:
        lat, lon = _number(values["lat"], "lat"), _number(values["lon"], "lon")
    else:
        raise _bad("missing lat/lon (or location)")
    _coordinates(lat, lon)

    stamp = values.get("timestamp")
    fixed_at = _aware_utc(now) if stamp is None else _timestamp(stamp)
    knots = number("speed")
    bearing = number("bearing") if "bearing" in values else number("heading")
    accuracy = number("accuracy")

    attributes: dict[str, Any] = {}
    valid = True
    for key, value in values.items():
        if key in _KNOWN:
            continue
        if len(attributes) >= MAX_ATTRIBUTES:
            raise _bad(f"more than {MAX_ATTRIBUTES} attributes")
        _clean_text(key, "an attribute name")
        if key == "valid":
            valid = _flag(value, "valid")
        elif key == "hdop":
            attributes["hdop"] = _number(value, "hdop")
        elif key == "charge":
            attributes["charge"] = _flag(value, "charge")
        else:  # driverUniqueId, cell, wifi and the tracker's own keys: text, kept as is
            attributes[key] = _clean_text(value, key)

    return OsmandFix(
        device_id=device,
        lat=lat,
        lon=lon,
        fixed_at=fixed_at,
        speed_kmh=None if knots is None or knots < 0 else knots * KNOT_KMH,
        course=_course(bearing),
        altitude=number("altitude"),
        accuracy=None if accuracy is None or accuracy < 0 else accuracy,
        battery=_battery(number("batt")),
        valid=valid,
        attributes=attributes,
    )


def _reject_constant(name: str) -> float:
    raise _bad(f"JSON number {name} is not allowed")


def _check_json_data(value: Any, what: str, depth: int = 0) -> Any:
    """Tracker-supplied JSON kept as an attribute: bounded nesting and size, no NUL."""
    if depth > MAX_JSON_DEPTH:
        raise _bad(f"{what} nested too deeply")
    if isinstance(value, str):
        return _clean_text(value, what)
    if isinstance(value, float) and not math.isfinite(value):  # "1e999"; JSON has no Infinity
        raise _bad(f"{what} is not a finite number")
    if isinstance(value, dict):
        if len(value) > MAX_ATTRIBUTES:
            raise _bad(f"{what} has more than {MAX_ATTRIBUTES} keys")
        for key, item in value.items():
            _clean_text(key, f"a key of {what}")
            _check_json_data(item, what, depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_ATTRIBUTES:
            raise _bad(f"{what} has more than {MAX_ATTRIBUTES} items")
        for item in value:
            _check_json_data(item, what, depth + 1)
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{what} must be a JSON object")
    return value


def parse_json(body: bytes, now: dt.datetime) -> OsmandFix:
    """The JSON variant (Traccar Client): device_id, location {timestamp, coords {latitude,
    longitude, speed m/s, heading, accuracy, altitude}, is_moving, odometer, event,
    battery {level 0-1, is_charging}, activity {type}, extras}."""
    try:
        root = json.loads(body, parse_constant=_reject_constant)
    except OsmandError:
        raise
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise _bad("body is not valid JSON") from None
    root = _object(root, "the body")
    device = _device_id(root.get("device_id"))
    location = _object(root.get("location"), "location")
    coords = _object(location.get("coords"), "location.coords")
    lat = _json_number(coords.get("latitude"), "latitude")
    lon = _json_number(coords.get("longitude"), "longitude")
    if lat is None or lon is None:
        raise _bad("missing latitude/longitude")
    _coordinates(lat, lon)

    stamp = location.get("timestamp")
    if stamp is None or stamp == "":
        fixed_at = _aware_utc(now)
    elif isinstance(stamp, str):
        fixed_at = _timestamp(stamp)
    else:
        raise _bad("location.timestamp must be an ISO 8601 text")

    speed = _json_number(coords.get("speed"), "speed")
    accuracy = _json_number(coords.get("accuracy"), "accuracy")
    battery = _object(location.get("battery"), "location.battery")
    level = _json_number(battery.get("level"), "battery level")
    if level is not None and level > 1:
        raise _bad(f"battery level over 1: {level}")

    attributes: dict[str, Any] = {}
    extras = _object(location.get("extras"), "location.extras")
    if len(extras) > MAX_ATTRIBUTES:
        raise _bad(f"more than {MAX_ATTRIBUTES} extras")
    for key, value in extras.items():
        _clean_text(key, "an extras key")
        attributes[key] = _check_json_data(value, f"extras.{key[:40]}")
    if "is_moving" in location:
        attributes["is_moving"] = _check_json_data(location["is_moving"], "is_moving")
    odometer = _json_number(location.get("odometer"), "odometer")
    if odometer is not None:
        attributes["odometer"] = odometer
    if location.get("event") is not None:
        attributes["event"] = _check_json_data(location["event"], "event")
    if battery.get("is_charging") is not None:
        attributes["charge"] = _check_json_data(battery["is_charging"], "battery.is_charging")
    activity = _object(location.get("activity"), "location.activity")
    if activity.get("type") is not None:
        attributes["activity"] = _check_json_data(activity["type"], "activity.type")

    return OsmandFix(
        device_id=device,
        lat=lat,
        lon=lon,
        fixed_at=fixed_at,
        speed_kmh=None if speed is None or speed < 0 else speed * MS_KMH,
        course=_course(_json_number(coords.get("heading"), "heading")),
        altitude=_json_number(coords.get("altitude"), "altitude"),
        accuracy=None if accuracy is None or accuracy < 0 else accuracy,
        battery=_battery(None if level is None or level < 0 else level * 100),
        valid=True,
        attributes=attributes,
    )


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_request(
    method: str, query: Mapping[str, str], content_type: str, body: bytes, now: dt.datetime
) -> OsmandFix:
    """Picks the variant: a JSON content type -> `parse_json(body)`; otherwise the query
    parameters, with a POST's form body (urlencoded, or untyped) merged over them."""
    method = method.upper()
    if method not in ("GET", "POST"):
        raise OsmandError(405, f"method {method[:10]} not allowed")
    media = _media_type(content_type)
    if media == "application/json" or media.endswith("+json"):
        return parse_json(body, now)
    params = dict(query)
    if method == "POST" and body and media in ("", "application/x-www-form-urlencoded"):
        try:
            form = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=MAX_ATTRIBUTES + len(_KNOWN) + 8,
            )
        except UnicodeDecodeError:
            raise _bad("form body is not UTF-8") from None
        except ValueError:
            raise _bad("too many form fields") from None
        params.update(form)
    return parse_params(params, now)
