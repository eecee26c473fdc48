"""A device's track for one local day: its fixes, the distance travelled, and its stops.

Reading. `day_fixes` is one query on the `(device, fixed_at)` index over the local day's
half-open interval (`partitions.day_bounds`), which on PostgreSQL also confines it to that
day's partition. Rows come back as tuples of the few columns a track needs.

Cleaning (`analyse`), in this order, each step documented because it changes the figures:

1. *Invalid fixes* are left out: those the device itself flagged as not positioned
   (`valid` false: no GPS lock, the terminal repeats its last position), coordinates out
   of range or not finite, and (0, 0), which a terminal sends before its first lock.
2. *Implausible jumps.* From the last kept fix, a fix farther than `JUMP_TOLERANCE_M` whose
   implied speed exceeds `MAX_SPEED_KMH` (200 km/h; no sanitation vehicle goes that fast)
   is suspect. If the fix after it is plausible from the suspect one, the device really
   is over there (the previous fixes were the wrong ones, or it was carried while switched
   off): the suspect is kept and starts a new *segment*, but the jump itself is not counted
   as distance. Otherwise it is a lone spike and is dropped. A suspect last fix of the day
   has nothing to confirm it and is dropped.
3. *Jitter.* A standing receiver wanders by some metres; adding up those wanderings would
   give a parked truck kilometres a day. Distance is therefore counted from the last
   counted fix only once the device is `MIN_STEP_M` (10 m) away from it, in a straight
   line; slower movement adds up until it passes that.

Distance is the sum of the counted great-circle steps (`geo.coords.haversine_m`) within
segments. Stops are stretches of at least `STOP_MIN_SECONDS` (5 min) during which the kept
fixes stay within `STOP_RADIUS_M` (50 m) of the first one — a gap in the fixes counts as
time there, as many trackers go quiet when not moving. Finding them is one pass, one
distance per fix. Everything is linear in the fixes: a day at a fix a second (86,400)
takes a fraction of a second.

For the page, `playback_points` thins a long day to at most `MAX_POINTS` fixes (evenly in
order, keeping the ends of every segment); the distance and stops are computed on every
fix first.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from yunbao.fleet.models import Position
from yunbao.fleet.partitions import day_bounds
from yunbao.geo.coords import haversine_m

MAX_SPEED_KMH = 200.0
# GPS error: a step this short is never called a jump, however close in time the two fixes.
JUMP_TOLERANCE_M = 50.0
MIN_STEP_M = 10.0
STOP_RADIUS_M = 50.0
STOP_MIN_SECONDS = 5 * 60
# The most fixes one track page carries (a fix a second all day is 86,400).
MAX_POINTS = 2000

_MAX_SPEED_MS = MAX_SPEED_KMH / 3.6


@dataclass(frozen=True, slots=True)
class Fix:
    at: dt.datetime
    lat: float
    lon: float
    speed: float | None
    course: int | None
    valid: bool


@dataclass(frozen=True, slots=True)
class Stop:
    start: dt.datetime
    end: dt.datetime
    lat: float
    lon: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Track:
    """One day of one device, cleaned (see the module's docstring)."""

    fixes: list[Fix]
    # The fixes kept on the path, in time order, each with the distance travelled up to it
    # (metres) and whether it starts a new segment (after a jump).
    kept: list[Fix] = field(default_factory=list)
    travelled: list[float] = field(default_factory=list)
    starts: list[bool] = field(default_factory=list)
    distance_m: float = 0.0
    # Fixes left out as invalid (step 1) and as spikes (step 2).
    invalid: int = 0
    spikes: int = 0
    stops: list[Stop] = field(default_factory=list)

    @property
    def segments(self) -> int:
        return sum(self.starts)

    @property
    def jumps(self) -> int:
        """Jumps the device really made (new segments), not counted as distance."""
        return max(0, self.segments - 1)

    @property
    def first(self) -> Fix | None:
        return self.kept[0] if self.kept else None

    @property
    def last(self) -> Fix | None:
        return self.kept[-1] if self.kept else None

    @property
    def max_speed(self) -> float | None:
        """The highest speed the device reported among the kept fixes (km/h)."""
        speeds = [f.speed for f in self.kept if f.speed is not None]
        return max(speeds) if speeds else None


def day_fixes(device_id: int, day: dt.date) -> list[Fix]:
    """Every fix of the device during the local day, oldest first (one query)."""
    start, end = day_bounds(day)
    rows = (
        Position.objects.filter(device_id=device_id, fixed_at__gte=start, fixed_at__lt=end)
        .order_by("fixed_at")
        .values_list("fixed_at", "lat", "lon", "speed", "course", "valid")
    )
    return [Fix(*row) for row in rows]


def usable(fix: Fix) -> bool:
    """A fix with a real position (step 1 of the cleaning)."""
    if not fix.valid:
        return False
    lat, lon = fix.lat, fix.lon
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return False
    return not (lat == 0 and lon == 0)


def plausible(a: Fix, b: Fix) -> bool:
    """Whether going from `a` to `b` is possible on the ground (step 2)."""
    metres = haversine_m(a.lat, a.lon, b.lat, b.lon)
    if metres <= JUMP_TOLERANCE_M:
        return True
    seconds = abs((b.at - a.at).total_seconds())
    # Fixes a second apart or less: a second is the finest time a terminal reports.
    return metres / max(seconds, 1.0) <= _MAX_SPEED_MS


def analyse(fixes: list[Fix]) -> Track:
    """Clean the day's fixes, add up the distance and find the stops."""
    track = Track(fixes=fixes)
    good = [f for f in fixes if usable(f)]
    track.invalid = len(fixes) - len(good)
    anchor: Fix | None = None  # the last counted fix (jitter)
    for i, fix in enumerate(good):
        previous = track.kept[-1] if track.kept else None
        new_segment = previous is None
        if previous is not None and not plausible(previous, fix):
            following = good[i + 1] if i + 1 < len(good) else None
            if following is None or not plausible(fix, following):
                track.spikes += 1
                continue
            new_segment = True  # the device is over there now: a new segment
        if new_segment:
            anchor = fix
        elif anchor is not None:
            step = haversine_m(anchor.lat, anchor.lon, fix.lat, fix.lon)
            if step >= MIN_STEP_M:
                track.distance_m += step
                anchor = fix
        track.kept.append(fix)
        track.travelled.append(track.distance_m)
        track.starts.append(new_segment)
    track.stops = find_stops(track.kept)
    return track


def find_stops(kept: list[Fix]) -> list[Stop]:
    """Stretches of at least `STOP_MIN_SECONDS` within `STOP_RADIUS_M` of their first fix.

    One pass: the stretch's first fix is the anchor until a fix leaves the radius, which
    ends the stretch (a stop if it lasted long enough) and becomes the next anchor. One
    distance per fix, however slowly the device moves."""
    stops: list[Stop] = []
    start = 0
    for i in range(1, len(kept) + 1):
        anchor = kept[start]
        if i < len(kept) and (
            haversine_m(anchor.lat, anchor.lon, kept[i].lat, kept[i].lon) <= STOP_RADIUS_M
        ):
            continue
        last = kept[i - 1]
        if (last.at - anchor.at).total_seconds() >= STOP_MIN_SECONDS:
            stretch = kept[start:i]
            stops.append(
                Stop(
                    anchor.at,
                    last.at,
                    sum(f.lat for f in stretch) / len(stretch),
                    sum(f.lon for f in stretch) / len(stretch),
                )
            )
        start = i
    return stops


def day_track(device_id: int, day: dt.date) -> Track:
    return analyse(day_fixes(device_id, day))


def _speed(track: Track, index: int) -> float | None:
    """The reported speed, else the one implied by the previous kept fix (km/h)."""
    fix = track.kept[index]
    if fix.speed is not None:
        return fix.speed
    if index == 0 or track.starts[index]:
        return None
    before = track.kept[index - 1]
    seconds = (fix.at - before.at).total_seconds()
    if seconds <= 0:
        return None
    return haversine_m(before.lat, before.lon, fix.lat, fix.lon) / seconds * 3.6


def playback_points(track: Track, limit: int = MAX_POINTS) -> list[list[Any]]:
    """The kept fixes for the page, thinned to at most about `limit`:
    [epoch seconds, lat, lon, speed km/h or None, metres travelled so far, new segment 0/1]."""
    n = len(track.kept)
    if n == 0:
        return []
    step = max(1, math.ceil(n / max(limit, 2)))
    chosen = set(range(0, n, step))
    chosen.add(n - 1)
    # The ends of every segment, so thinning never draws a line across a jump.
    for i, start in enumerate(track.starts):
        if start:
            chosen.add(i)
            if i > 0:
                chosen.add(i - 1)
    points = []
    for i in sorted(chosen):
        fix = track.kept[i]
        speed = _speed(track, i)
        points.append(
            [
                int(fix.at.timestamp()),
                round(fix.lat, 6),
                round(fix.lon, 6),
                None if speed is None else round(speed, 1),
                round(track.travelled[i]),
                1 if track.starts[i] else 0,
            ]
        )
    return points
