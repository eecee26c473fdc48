"""A device's day: reading its fixes, the distance travelled (invalid fixes, spikes, jumps
and jitter left out) and its stops."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from yunbao.fleet import tracks
from yunbao.fleet.partitions import ensure_partitions
from yunbao.fleet.tests.live_helpers import fix, store, vehicle
from yunbao.fleet.tracks import Fix, analyse, day_fixes, playback_points
from yunbao.geo.coords import haversine_m

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2025, 3, 3)
# About 100 m of latitude.
STEP = 0.0009


def local(hour: int, minute: int = 0, second: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=SHANGHAI)


def walk(
    start: dt.datetime,
    n: int,
    *,
    lat: float = 23.0,
    lon: float = 113.0,
    dlat: float = STEP,
    seconds: int = 30,
    **kw: Any,
) -> list[Fix]:
    """`n` fixes `seconds` apart, moving north by `dlat` each time."""
    return [
        Fix(
            start + dt.timedelta(seconds=i * seconds),
            lat + i * dlat,
            lon,
            kw.get("speed"),
            None,
            True,
        )
        for i in range(n)
    ]


def path_length(fixes: list[Fix]) -> float:
    return sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(fixes))


@pytest.fixture(autouse=True)
def _shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


# --- Distance ------------------------------------------------------------------------------


def test_distance_is_the_sum_of_the_steps() -> None:
    fixes = walk(local(8), 61)  # 6 km north in 30 min: 12 km/h
    track = analyse(fixes)
    assert track.distance_m == pytest.approx(path_length(fixes))
    assert track.distance_m == pytest.approx(haversine_m(23.0, 113.0, 23.0 + 60 * STEP, 113.0))
    assert len(track.kept) == 61
    assert track.invalid == track.spikes == track.jumps == 0
    assert track.travelled[0] == 0
    assert track.travelled[-1] == track.distance_m
    assert track.stops == []


def test_invalid_fixes_are_left_out() -> None:
    fixes = walk(local(8), 11)
    # No GPS lock (far away), the (0, 0) of a terminal before its first fix, and nonsense.
    bad = [
        Fix(local(8, 1, 10), 23.5, 113.5, None, None, False),
        Fix(local(8, 2, 10), 0.0, 0.0, None, None, True),
        Fix(local(8, 3, 10), math.nan, 113.0, None, None, True),
        Fix(local(8, 4, 10), 95.0, 113.0, None, None, True),
        Fix(local(8, 4, 20), 23.0, 190.0, None, None, True),
    ]
    track = analyse(sorted(fixes + bad, key=lambda f: f.at))
    assert track.invalid == len(bad)
    assert track.kept == fixes
    assert track.distance_m == pytest.approx(path_length(fixes))


def test_a_lone_spike_is_dropped() -> None:
    fixes = walk(local(8), 11)
    # 5 km east, 10 s after a fix: 1,800 km/h, and back again.
    spike = Fix(local(8, 2, 10), 23.0 + 4 * STEP, 113.05, None, None, True)
    track = analyse(sorted([*fixes, spike], key=lambda f: f.at))
    assert track.spikes == 1
    assert spike not in track.kept
    assert track.distance_m == pytest.approx(path_length(fixes))
    assert track.segments == 1


def test_a_real_jump_starts_a_new_segment_without_counting_it() -> None:
    here = walk(local(8), 5)
    # Carried 50 km while switched off for two minutes, then driving on: the jump implies
    # 1,500 km/h, yet the fixes after it agree with each other.
    there = walk(local(8, 4), 5, lat=23.45)
    track = analyse(here + there)
    assert track.spikes == 0
    assert track.jumps == 1
    assert track.segments == 2
    assert track.starts == [True, False, False, False, False, True, False, False, False, False]
    assert track.distance_m == pytest.approx(path_length(here) + path_length(there))


def test_a_bad_first_fix_does_not_poison_the_day() -> None:
    bad_first = Fix(local(7, 59, 50), 22.5, 113.0, None, None, True)
    fixes = walk(local(8), 11)
    track = analyse([bad_first, *fixes])
    # The day goes on from where the device really is; the jump is not distance.
    assert track.kept[-len(fixes) :] == fixes
    assert track.distance_m == pytest.approx(path_length(fixes))


def test_a_suspect_last_fix_is_dropped() -> None:
    fixes = walk(local(8), 5)
    last = Fix(local(8, 2, 10), 24.0, 113.0, None, None, True)
    track = analyse([*fixes, last])
    assert track.spikes == 1
    assert track.kept == fixes


def test_jitter_of_a_parked_vehicle_is_not_distance() -> None:
    rng = random.Random(4)
    # An hour parked, a fix every 10 s wandering up to ±4 m around the spot.
    fixes = [
        Fix(
            local(12) + dt.timedelta(seconds=10 * i),
            23.0 + rng.uniform(-4, 4) / 111_000,
            113.0 + rng.uniform(-4, 4) / 102_000,
            0.0,
            None,
            True,
        )
        for i in range(360)
    ]
    assert path_length(fixes) > 1000  # the naive sum: over a kilometre
    track = analyse(fixes)
    assert track.distance_m == 0
    assert len(track.stops) == 1
    assert track.stops[0].start == local(12)
    assert track.stops[0].seconds == 3590


def test_slow_walking_still_adds_up() -> None:
    # 3 m every 10 s (1 km/h): each step under the jitter threshold, the walk is not.
    fixes = walk(local(9), 101, dlat=3 / 111_000, seconds=10)
    track = analyse(fixes)
    assert track.distance_m == pytest.approx(path_length(fixes), rel=0.05)


def test_duplicate_fixes_add_nothing() -> None:
    fixes = walk(local(8), 5)
    track = analyse(sorted(fixes + fixes, key=lambda f: f.at))
    assert track.distance_m == pytest.approx(path_length(fixes))


# --- Stops ---------------------------------------------------------------------------------


def test_stops_of_five_minutes_or_more_are_found() -> None:
    before = walk(local(8), 10)
    end = before[-1]
    # Ten minutes at the depot (no fixes for the middle eight: the tracker went quiet).
    parked = [
        Fix(end.at + dt.timedelta(minutes=1), end.lat, end.lon + 0.0001, 0.0, None, True),
        Fix(end.at + dt.timedelta(minutes=10), end.lat + 0.0001, end.lon, 0.0, None, True),
    ]
    after = walk(end.at + dt.timedelta(minutes=11), 10, lat=end.lat + 2 * STEP)
    # Three minutes at a light: not a stop.
    light = after[-1]
    short = [Fix(light.at + dt.timedelta(minutes=3), light.lat, light.lon, 0.0, None, True)]
    track = analyse(before + parked + after + short)
    assert len(track.stops) == 1
    stop = track.stops[0]
    assert (stop.start, stop.end) == (end.at, end.at + dt.timedelta(minutes=10))
    assert haversine_m(stop.lat, stop.lon, end.lat, end.lon) < tracks.STOP_RADIUS_M


def test_a_slow_steady_walker_never_stops() -> None:
    # A fix a second for 14 hours at 0.3 m/s: 50 m takes under three minutes.
    fixes = walk(local(6), 50_000, dlat=0.3 / 111_000, seconds=1)
    track = analyse(fixes)
    assert track.stops == []
    assert track.distance_m == pytest.approx(path_length(fixes), rel=0.01)


# --- Reading -------------------------------------------------------------------------------


def test_a_day_is_read_in_one_query_in_local_time(db: Any, django_assert_num_queries: Any) -> None:
    device, other = vehicle(), vehicle()
    ensure_partitions(DAY - dt.timedelta(days=1), days=3)
    inside = [
        fix(device, local(0, 0, 0), 23.0, 113.0),
        fix(device, local(12), 23.001, 113.0, valid=False),
        fix(device, local(23, 59, 59), 23.002, 113.0),
    ]
    outside = [
        fix(device, local(23, 59, 59, DAY - dt.timedelta(days=1)), 23.0, 113.0),
        fix(device, local(0, 0, 0, DAY + dt.timedelta(days=1)), 23.0, 113.0),
        fix(other, local(12), 23.0, 113.0),
    ]
    store(outside + list(reversed(inside)))
    with django_assert_num_queries(1):
        fixes = day_fixes(device.pk, DAY)
    assert [f.at for f in fixes] == [p.fixed_at for p in inside]
    assert [f.valid for f in fixes] == [True, False, True]


def test_the_day_query_uses_the_device_time_index(db: Any) -> None:
    device = vehicle()
    ensure_partitions(DAY - dt.timedelta(days=1), days=3)
    store([fix(device, local(h), 23.0, 113.0) for h in range(24)])
    start, end = tracks.day_bounds(DAY)
    query = tracks.Position.objects.filter(
        device_id=device.pk, fixed_at__gte=start, fixed_at__lt=end
    ).order_by("fixed_at")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
        # One partition, read through its (device_id, fixed_at) index.
        assert "fleet_position_p20250303" in plan
        assert "fleet_position_p20250302" not in plan
        assert "fleet_position_default" not in plan
        assert "Index" in plan
    else:
        assert "fleet_pos_device_time" in query.explain()


def test_playback_is_thinned_but_keeps_the_ends_and_the_jumps() -> None:
    here = walk(local(6), 6000, dlat=0.00002, seconds=2)
    there = walk(here[-1].at + dt.timedelta(minutes=5), 3000, lat=23.5, dlat=0.00002, seconds=2)
    track = analyse(here + there)
    points = playback_points(track, limit=500)
    assert len(points) <= 500 + 1 + 2 * track.segments  # the last fix, the segment ends
    assert points[0][0] == int(here[0].at.timestamp())
    assert points[-1][0] == int(there[-1].at.timestamp())
    starts = [p for p in points if p[5] == 1]
    assert [p[0] for p in starts] == [int(here[0].at.timestamp()), int(there[0].at.timestamp())]
    # The point before the jump is the last of the first segment.
    before = points[points.index(starts[1]) - 1]
    assert before[0] == int(here[-1].at.timestamp())
    assert points[-1][4] == round(track.distance_m)
    # Speeds: none reported, so implied by the previous fix (0.00002° lat in 2 s).
    assert points[1][3] == pytest.approx(round(haversine_m(23, 113, 23.00002, 113) / 2 * 3.6, 1))
    assert playback_points(analyse([])) == []
