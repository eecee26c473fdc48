"""OsmAnd request parsing: the query, form and JSON variants, every timestamp format, unit
conversions, and bad, impossible or hostile input refused with a clear message (or, for
free text, kept as data)."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yunbao.fleet.osmand import (
    MAX_ATTRIBUTES,
    OsmandError,
    OsmandFix,
    parse_json,
    parse_params,
    parse_request,
)

UTC = dt.UTC
NOW = dt.datetime(2025, 3, 1, 2, 0, 0, tzinfo=UTC)
BASE = {"id": "badge-7", "lat": "23.129163", "lon": "113.264435"}


def params(**extra: str) -> dict[str, str]:
    return {**BASE, **extra}


def bad(call: Any, *args: Any) -> OsmandError:
    with pytest.raises(OsmandError) as caught:
        call(*args)
    return caught.value


def traccar_json(**location: Any) -> dict[str, Any]:
    """What Traccar Client (the background-geolocation plugin) posts."""
    return {
        "device_id": "badge-7",
        "location": {
            "timestamp": "2025-03-01T01:59:30.123Z",
            "coords": {
                "latitude": 23.129163,
                "longitude": 113.264435,
                "accuracy": 8.5,
                "speed": 2.5,
                "heading": 271.3,
                "altitude": 12.0,
            },
            "is_moving": True,
            "odometer": 1234.5,
            "event": "motionchange",
            "battery": {"level": 0.46, "is_charging": False},
            "activity": {"type": "walking"},
            "extras": {"shift": "night"},
            **location,
        },
    }


def as_body(data: Any) -> bytes:
    return json.dumps(data).encode()


# --- The query / form variant ----------------------------------------------------------------


def test_a_full_query_becomes_a_fix() -> None:
    fix = parse_params(
        params(
            timestamp="1740794370",
            speed="10",
            bearing="90.5",
            altitude="21.5",
            accuracy="5",
            batt="87.5",
            hdop="0.9",
            valid="true",
            charge="false",
            driverUniqueId="D-42",
            cell="460,0,9520,3671",
            wifi="00:11:22:33:44:55,-70",
            custom="value",
        ),
        NOW,
    )

    assert fix.speed_kmh == pytest.approx(18.52)  # 10 knots
    assert replace(fix, speed_kmh=None) == OsmandFix(
        device_id="badge-7",
        lat=23.129163,
        lon=113.264435,
        fixed_at=dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC),
        speed_kmh=None,
        course=90.5,
        altitude=21.5,
        accuracy=5.0,
        battery=87.5,
        valid=True,
        attributes={
            "hdop": 0.9,
            "charge": False,
            "driverUniqueId": "D-42",
            "cell": "460,0,9520,3671",
            "wifi": "00:11:22:33:44:55,-70",
            "custom": "value",
        },
    )
    assert fix.fixed_at.tzinfo is UTC


def test_the_smallest_query_takes_now_and_knows_nothing_else() -> None:
    fix = parse_params(BASE, NOW)

    assert fix.fixed_at == NOW
    assert fix.speed_kmh is fix.course is fix.altitude is fix.accuracy is fix.battery is None
    assert fix.valid is True
    assert fix.attributes == {}


def test_deviceid_stands_in_for_id() -> None:
    fix = parse_params({"deviceid": "869000000000001", "lat": "1", "lon": "2"}, NOW)

    assert fix.device_id == "869000000000001"


@pytest.mark.parametrize(
    ("knots", "kmh"), [("0", 0.0), ("1", 1.852), ("10.5", 19.446), ("54", 100.008)]
)
def test_speed_is_knots_turned_into_kmh(knots: str, kmh: float) -> None:
    assert parse_params(params(speed=knots), NOW).speed_kmh == pytest.approx(kmh)


def test_a_negative_speed_or_bearing_means_unknown() -> None:
    fix = parse_params(params(speed="-1", bearing="-1", accuracy="-1", batt="-1"), NOW)

    assert fix.speed_kmh is fix.course is fix.accuracy is fix.battery is None


def test_heading_stands_in_for_bearing_and_bearing_wins() -> None:
    assert parse_params(params(heading="45"), NOW).course == 45.0
    assert parse_params(params(heading="45", bearing="90"), NOW).course == 90.0
    assert parse_params(params(bearing="360"), NOW).course == 0.0


def test_location_stands_in_for_lat_and_lon() -> None:
    fix = parse_params({"id": "x", "location": "-33.865143,-70.648274"}, NOW)

    assert (fix.lat, fix.lon) == (-33.865143, -70.648274)
    assert bad(parse_params, {"id": "x", "location": "1,2,3"}, NOW).message.startswith(
        "location must be lat,lon"
    )
    assert "not a number" in bad(parse_params, {"id": "x", "location": "1,x"}, NOW).message
    assert "lat,lon" in bad(parse_params, {"id": "x", "location": "1;2"}, NOW).message


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1740794370", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),  # seconds
        ("1740794370.5", dt.datetime(2025, 3, 1, 1, 59, 30, 500000, tzinfo=UTC)),
        ("1740794370123", dt.datetime(2025, 3, 1, 1, 59, 30, 123000, tzinfo=UTC)),  # ms
        ("2147483647", dt.datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC)),  # last seconds value
        ("2147483648", dt.datetime(1970, 1, 25, 20, 31, 23, 648000, tzinfo=UTC)),  # ms
        ("0", dt.datetime(1970, 1, 1, tzinfo=UTC)),
        ("2025-03-01T01:59:30Z", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),
        ("2025-03-01T09:59:30+08:00", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),
        ("2025-03-01T01:59:30.250Z", dt.datetime(2025, 3, 1, 1, 59, 30, 250000, tzinfo=UTC)),
        ("2025-03-01T01:59:30", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),  # no zone: UTC
        ("2025-03-01 01:59:30", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),
        # "+08:00" in a query string arrives as " 08:00" (a plus is a space there).
        ("2025-03-01T09:59:30 08:00", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),
    ],
)
def test_every_timestamp_format(stamp: str, expected: dt.datetime) -> None:
    fixed_at = parse_params(params(timestamp=stamp), NOW).fixed_at

    assert fixed_at == expected
    assert fixed_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "stamp", ["yesterday", "-5", "1e10", "2025-13-01 00:00:00", "99999999999999999999", "0x10"]
)
def test_a_bad_timestamp_is_refused(stamp: str) -> None:
    error = bad(parse_params, params(timestamp=stamp), NOW)

    assert error.status == 400
    assert "timestamp" in error.message


def test_an_empty_value_is_the_same_as_an_absent_one() -> None:
    fix = parse_params(
        params(timestamp="", speed="", bearing="", heading="7", batt="", valid="", custom=""),
        NOW,
    )

    assert fix.fixed_at == NOW
    assert fix.speed_kmh is None
    assert fix.battery is None
    assert fix.course == 7.0
    assert fix.valid is True
    assert fix.attributes == {}
    # An empty id is a missing id, but an empty id next to a deviceid is fine.
    assert bad(parse_params, params(id=""), NOW).message == "missing id"
    assert parse_params(params(id="", deviceid="d-1"), NOW).device_id == "d-1"


@pytest.mark.parametrize("query", [{"lat": "1", "lon": "2"}, {"id": "  ", "lat": "1", "lon": "2"}])
def test_a_missing_id_is_a_400(query: dict[str, str]) -> None:
    error = bad(parse_params, query, NOW)

    assert (error.status, error.message, str(error)) == (400, "missing id", "missing id")


def test_an_id_must_be_a_sane_identifier() -> None:
    assert "longer than 64" in bad(parse_params, params(id="x" * 65), NOW).message
    assert "control characters" in bad(parse_params, params(id="a\nb"), NOW).message
    assert parse_params(params(id="  padded "), NOW).device_id == "padded"


def test_missing_coordinates_are_a_400() -> None:
    assert "missing lat/lon" in bad(parse_params, {"id": "x", "lat": "1"}, NOW).message
    assert "missing lat/lon" in bad(parse_params, {"id": "x", "lat": "1", "lon": ""}, NOW).message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lat", "abc"),
        ("lat", "nan"),
        ("lon", "NaN"),
        ("lat", "inf"),
        ("lon", "-Infinity"),
        ("lat", "1e999"),
        ("lat", "1_0"),
        ("lat", "0x10"),
        ("speed", "fast"),
        ("altitude", "nan"),
        ("accuracy", "1,5"),
        ("batt", "full"),
        ("hdop", "inf"),
        ("bearing", "north"),
    ],
)
def test_bad_numbers_are_refused_with_the_field_named(key: str, value: str) -> None:
    error = bad(parse_params, params(**{key: value}), NOW)

    assert error.status == 400
    assert key in error.message
    assert "number" in error.message


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        ("90.000001", "0", "latitude out of range [-90, 90]"),
        ("-91", "0", "latitude out of range"),
        ("0", "180.5", "longitude out of range [-180, 180]"),
        ("0", "-1000", "longitude out of range"),
    ],
)
def test_coordinates_out_of_range_are_refused(lat: str, lon: str, message: str) -> None:
    assert message in bad(parse_params, params(lat=lat, lon=lon), NOW).message


def test_the_edges_of_the_globe_are_fine() -> None:
    for lat, lon in (("90", "180"), ("-90", "-180"), ("0", "0")):
        fix = parse_params(params(lat=lat, lon=lon), NOW)
        assert (fix.lat, fix.lon) == (float(lat), float(lon))


def test_valid_and_charge_are_flags() -> None:
    assert parse_params(params(valid="false"), NOW).valid is False
    assert parse_params(params(valid="0"), NOW).valid is False
    assert parse_params(params(valid="TRUE"), NOW).valid is True
    assert parse_params(params(charge="1"), NOW).attributes == {"charge": True}
    assert "valid must be true or false" in bad(parse_params, params(valid="maybe"), NOW).message


def test_a_battery_over_100_percent_is_refused() -> None:
    assert parse_params(params(batt="100"), NOW).battery == 100.0
    assert "battery level over 100" in bad(parse_params, params(batt="100.1"), NOW).message


def test_hostile_text_in_attributes_is_kept_as_data() -> None:
    hostile = {
        "note": "<script>alert(1)</script>",
        "sql": "'; DROP TABLE fleet_position; --",
        "path": "../../etc/passwd",
        "template": "{{ settings.SECRET_KEY }} {% debug %}",
        "名称": "粤A·12345 🚛",
        "__proto__": "x",
    }

    fix = parse_params(params(**hostile), NOW)

    assert fix.attributes == hostile


def test_nul_characters_and_floods_are_refused() -> None:
    assert "NUL" in bad(parse_params, params(note="a\x00b"), NOW).message
    assert "NUL" in bad(parse_params, params(**{"a\x00": "b"}), NOW).message
    assert "longer than 1024" in bad(parse_params, params(note="x" * 1025), NOW).message
    flood = {f"k{i}": "v" for i in range(MAX_ATTRIBUTES + 1)}
    assert f"more than {MAX_ATTRIBUTES}" in bad(parse_params, params(**flood), NOW).message


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=20))
def test_any_text_gives_a_fix_or_an_osmand_error(extra: dict[str, str]) -> None:
    fix: OsmandFix | OsmandError
    try:
        fix = parse_params({**extra, **BASE}, NOW)
    except OsmandError as error:
        fix = error
    if isinstance(fix, OsmandError):
        assert fix.status == 400
        assert fix.message
    else:
        assert fix.device_id == "badge-7"
        for value in fix.attributes.values():
            assert not isinstance(value, str) or "\x00" not in value


@given(
    st.dictionaries(
        st.sampled_from([*sorted(BASE), "speed", "timestamp", "location"]), st.text(max_size=30)
    )
)
def test_any_values_of_the_known_keys_give_a_fix_or_an_osmand_error(query: dict[str, str]) -> None:
    fix: OsmandFix | OsmandError
    try:
        fix = parse_params(query, NOW)
    except OsmandError as error:
        fix = error
    if isinstance(fix, OsmandError):
        assert fix.status == 400
    else:
        assert math.isfinite(fix.lat)
        assert -90 <= fix.lat <= 90
        assert math.isfinite(fix.lon)
        assert -180 <= fix.lon <= 180
        assert fix.fixed_at.utcoffset() == dt.timedelta(0)


# --- The JSON variant ------------------------------------------------------------------------


def test_a_traccar_client_json_becomes_a_fix() -> None:
    fix = parse_json(as_body(traccar_json()), NOW)

    assert fix.speed_kmh == pytest.approx(9.0)  # 2.5 m/s
    assert fix.battery == pytest.approx(46.0)  # 0.46
    assert replace(fix, speed_kmh=None, battery=None) == OsmandFix(
        device_id="badge-7",
        lat=23.129163,
        lon=113.264435,
        fixed_at=dt.datetime(2025, 3, 1, 1, 59, 30, 123000, tzinfo=UTC),
        speed_kmh=None,
        course=271.3,
        altitude=12.0,
        accuracy=8.5,
        battery=None,
        valid=True,
        attributes={
            "shift": "night",
            "is_moving": True,
            "odometer": 1234.5,
            "event": "motionchange",
            "charge": False,
            "activity": "walking",
        },
    )


def test_json_unknowns_are_negative_numbers() -> None:
    data = traccar_json(battery={"level": -1, "is_charging": True})
    data["location"]["coords"].update(speed=-1, heading=-1, accuracy=-1)

    fix = parse_json(as_body(data), NOW)

    assert fix.speed_kmh is fix.course is fix.accuracy is fix.battery is None
    assert fix.attributes["charge"] is True


def test_the_smallest_json_takes_now() -> None:
    data = {"device_id": "x", "location": {"coords": {"latitude": 1, "longitude": 2}}}

    fix = parse_json(as_body(data), NOW)

    assert (fix.lat, fix.lon, fix.fixed_at, fix.attributes) == (1.0, 2.0, NOW, {})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'"text"', "the body must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'{"location": {"coords": {"latitude": 1, "longitude": 2}}}', "missing id"),
        (b'{"device_id": "", "location": {}}', "missing id"),
        (b'{"device_id": true, "location": {}}', "missing id"),
        (b'{"device_id": "x"}', "missing latitude/longitude"),
        (b'{"device_id": "x", "location": []}', "location must be a JSON object"),
        (b'{"device_id": "x", "location": {"coords": 5}}', "location.coords must be"),
    ],
)
def test_bad_json_is_refused(body: bytes, message: str) -> None:
    error = bad(parse_json, body, NOW)

    assert error.status == 400
    assert message in error.message


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        ({"latitude": "23.1", "longitude": 113.2}, "latitude must be a number"),
        ({"latitude": True, "longitude": 113.2}, "latitude must be a number"),
        ({"latitude": 91, "longitude": 113.2}, "latitude out of range"),
        ({"latitude": 23.1, "longitude": -180.01}, "longitude out of range"),
        ({"latitude": 23.1, "longitude": 113.2, "speed": "fast"}, "speed must be a number"),
        ({"latitude": 10**400, "longitude": 113.2}, "latitude is not a finite number"),
    ],
)
def test_bad_json_coordinates_are_refused(coords: dict[str, Any], message: str) -> None:
    data = traccar_json(coords=coords)

    assert message in bad(parse_json, as_body(data), NOW).message


def test_a_json_number_too_big_for_a_float_is_refused() -> None:
    body = as_body(traccar_json()).replace(b"23.129163", b"1e999")

    assert "latitude is not a finite number" in bad(parse_json, body, NOW).message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_refused(constant: str) -> None:
    body = as_body(traccar_json()).replace(b"23.129163", constant.encode())

    error = bad(parse_json, body, NOW)

    assert error.status == 400
    assert constant in error.message


def test_a_json_battery_level_over_one_is_refused() -> None:
    data = traccar_json(battery={"level": 46})

    assert "battery level over 1" in bad(parse_json, as_body(data), NOW).message


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2025-03-01T09:59:30+08:00", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),
        ("2025-03-01 01:59:30", dt.datetime(2025, 3, 1, 1, 59, 30, tzinfo=UTC)),
        ("", NOW),
    ],
)
def test_json_timestamps(stamp: str, expected: dt.datetime) -> None:
    assert parse_json(as_body(traccar_json(timestamp=stamp)), NOW).fixed_at == expected


def test_a_json_timestamp_must_be_text() -> None:
    error = bad(parse_json, as_body(traccar_json(timestamp=1740794370)), NOW)

    assert "timestamp must be an ISO 8601 text" in error.message
    assert "bad timestamp" in bad(parse_json, as_body(traccar_json(timestamp="soon")), NOW).message


def test_hostile_json_extras_are_kept_as_data_within_bounds() -> None:
    extras = {"html": "<img src=x onerror=alert(1)>", "nested": {"list": [1, "two", None]}}

    fix = parse_json(as_body(traccar_json(extras=extras)), NOW)

    assert fix.attributes["html"] == extras["html"]
    assert fix.attributes["nested"] == extras["nested"]
    nul = bad(parse_json, as_body(traccar_json(extras={"a": "x\x00y"})), NOW)
    assert "NUL" in nul.message
    deep: Any = "bottom"
    for _ in range(40):
        deep = [deep]
    assert (
        "nested too deeply"
        in bad(parse_json, as_body(traccar_json(extras={"d": deep})), NOW).message
    )
    many = {f"k{i}": i for i in range(MAX_ATTRIBUTES + 1)}
    assert "more than" in bad(parse_json, as_body(traccar_json(extras=many)), NOW).message
    inf = as_body(traccar_json()).replace(b'"night"', b"1e999")
    assert "not a finite number" in bad(parse_json, inf, NOW).message


# --- Picking the variant ---------------------------------------------------------------------


def test_a_get_reads_the_query() -> None:
    fix = parse_request("GET", params(speed="1"), "", b"ignored=1", NOW)

    assert fix.device_id == "badge-7"
    assert fix.speed_kmh == pytest.approx(1.852)
    assert "ignored" not in fix.attributes


def test_a_post_form_is_merged_over_the_query() -> None:
    body = urlencode({"lat": "24.5", "lon": "114.5", "speed": "2", "note": "形式"}).encode()

    fix = parse_request(
        "POST",
        params(lat="1", lon="2", batt="50"),
        "application/x-www-form-urlencoded; charset=UTF-8",
        body,
        NOW,
    )

    assert (fix.lat, fix.lon, fix.battery) == (24.5, 114.5, 50.0)
    assert fix.speed_kmh == pytest.approx(3.704)
    assert fix.attributes == {"note": "形式"}


def test_a_post_with_the_query_only_and_an_empty_body() -> None:
    fix = parse_request("POST", params(), "", b"", NOW)

    assert fix.device_id == "badge-7"


def test_a_post_without_content_type_is_read_as_a_form() -> None:
    fix = parse_request("POST", {}, "", urlencode(BASE).encode(), NOW)

    assert fix.device_id == "badge-7"


def test_a_json_content_type_reads_the_json_body() -> None:
    fix = parse_request(
        "POST", {"id": "ignored"}, "application/json; charset=utf-8", as_body(traccar_json()), NOW
    )

    assert fix.device_id == "badge-7"
    assert fix.attributes["activity"] == "walking"
    with pytest.raises(OsmandError, match="not valid JSON"):
        parse_request("POST", {}, "Application/JSON", b"id=1", NOW)


def test_a_bad_form_body_or_method_is_refused() -> None:
    form = "application/x-www-form-urlencoded"
    assert "not UTF-8" in bad(parse_request, "POST", {}, form, b"id=\xff\xfe", NOW).message
    flood = "&".join(f"k{i}=v" for i in range(500)).encode()
    assert "too many form fields" in bad(parse_request, "POST", {}, form, flood, NOW).message
    error = bad(parse_request, "DELETE", params(), "", b"", NOW)
    assert error.status == 405
