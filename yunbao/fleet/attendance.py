"""Attendance (考勤): who was at work, inside their area, during their shifts — from badges.

Duty
----
Who should be working when comes from the roster, `yunbao.org.duty` (weekly shifts, overnight
ones, whole and partial days off, extra shifts). One stretch of duty is a `DutySpan`; the
stretches of a day are those that **start** on that local date, so a 22:00–06:00 night shift
belongs to the evening it starts, as a day off does in `org.duty`. A partial day off cuts a
shift into two stretches, each judged on its own.

Where someone is
----------------
A person's position is what their badges report (`Device` of kind badge whose `staff` is
them, active or not: a badge retired today still tells where they were yesterday). Fixes with
`valid=False` (no satellite lock) are ignored, and so are coordinates out of range (logged:
the gateway should never store them). A fix is *in the area* when the grid holding it
(`yunbao.geo.locate`, one STRtree query for all of a day's fixes) lies under one of the
person's service areas: their profile's areas, or their unit's when they have none — the
same test that files orders under areas. Someone with no area on either is in the area
wherever they are.

A person carrying several badges is in the area when any of their badges that reported
within the last `FLEET_COVERAGE_MINUTES` puts them there: a second badge forgotten at home
does not send them out of the area, and a badge that fell silent stops vouching for them.

Each stretch
------------
With G = `FLEET_ATTENDANCE_GRACE_MINUTES` and a stretch [start, end):

- the fixes that count are those from start − G to end + G, both inclusive;
- **absent**: none of them is in the area;
- **late**: the first one in the area is after start + G (exactly start + G is on time);
- **left early**: the last one in the area is before end − G (exactly end − G is not);
  decided only once end + G has passed, since a fix may still come;
- **on duty**: neither. Late and left early together show as late, with both marks.

While a stretch is running it is judged on what has arrived so far (`final` is False until
end + G); before start + G without a fix in the area it is *not started yet*.

Out of area
-----------
From a person's first fix in the area (arrival), their state is that of their newest fix,
held until the next one; time outside within [start, end) adds to their out-of-area minutes.
A run outside lasts from its first fix outside to the first fix back inside. Silence holds
the last state: a badge that stops reporting outside keeps counting as outside (nothing says
they came back); one that stops inside counts as inside, but its last in-area fix shows and
"left early" catches it at the end. Time before arrival is lateness, not an excursion.
An **excursion** is a run outside longer than `FLEET_OUT_OF_AREA_MINUTES`; `alert_out_of_area`
(every minute, `fleet-attendance`) tells the unit leader of each once.

The day and the on-duty rate (在岗率)
-------------------------------------
A person's day is *off* without a stretch; otherwise the worst of its stretches that have
begun (absent, then late, then left early, then on duty), so someone who skipped one of two
stretches is absent that day. The unit's on-duty rate is **present / scheduled**: scheduled
are the people with at least one stretch that has begun (past start + G, or already arrived),
present are those of them whose day is on duty, late or left early — they came, even if not
on time or not to the end. None when nobody is scheduled.

Queries: a unit's day is a fixed handful (people, roster, badges, unit areas, one ordered
query for all its badges' fixes of the day), whatever the number of people.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from yunbao.fleet.models import Device, DeviceKind, Position
from yunbao.geo.locate import locate_many

# `spans_of_day` is fed rows read for a whole unit at once (two queries) instead of
# `shifts_at`'s two per person.
from yunbao.org.duty import DutySpan, spans_of_day
from yunbao.org.models import Role, RosterException, Shift, StaffProfile, Unit

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

__all__ = [
    "PRESENT",
    "Excursion",
    "PersonDay",
    "SpanAttendance",
    "Status",
    "UnitDay",
    "alert_out_of_area",
    "duty_spans",
    "on_duty_rate",
    "person_day",
    "unit_day",
]

_DAY = dt.timedelta(days=1)
# How far back the minute's alert check looks for someone outside before reading their whole
# shift: an excursion is alertable for this long, so a worker that was down for less than
# this still alerts each one (once, late) when it comes back.
ALERT_LOOKBACK = dt.timedelta(hours=1)


class Status(models.TextChoices):
    ON_DUTY = "on_duty", gettext_lazy("On duty")
    LATE = "late", gettext_lazy("Late")
    LEFT_EARLY = "left_early", gettext_lazy("Left early")
    ABSENT = "absent", gettext_lazy("Absent")
    OFF = "off", gettext_lazy("Off (no shift)")
    UPCOMING = "upcoming", gettext_lazy("Not started yet")


# The statuses that count as present for the on-duty rate.
PRESENT = frozenset({Status.ON_DUTY, Status.LATE, Status.LEFT_EARLY})
_SEVERITY: dict[str, int] = {
    Status.ON_DUTY: 0,
    Status.LEFT_EARLY: 1,
    Status.LATE: 2,
    Status.ABSENT: 3,
}


def grace() -> dt.timedelta:
    return dt.timedelta(minutes=settings.YUNBAO_FLEET_ATTENDANCE_GRACE_MINUTES)


def excursion_minimum() -> dt.timedelta:
    return dt.timedelta(minutes=settings.YUNBAO_FLEET_OUT_OF_AREA_MINUTES)


def silence() -> dt.timedelta:
    return dt.timedelta(minutes=settings.YUNBAO_FLEET_COVERAGE_MINUTES)


# One fix of a person: (fix time, device id, in the area).
Track = list[tuple[dt.datetime, int, bool]]


@dataclass(frozen=True)
class Excursion:
    """A run outside the area during a stretch."""

    start: dt.datetime  # the first fix outside (the stretch's start if earlier)
    back: dt.datetime | None  # the first fix back inside; None: not back (yet)
    until: dt.datetime  # where it stops counting: back, the stretch's end or now

    @property
    def duration(self) -> dt.timedelta:
        return self.until - self.start

    @property
    def minutes(self) -> float:
        return self.duration.total_seconds() / 60

    @property
    def open(self) -> bool:
        return self.back is None


@dataclass(frozen=True)
class SpanAttendance:
    """How one stretch of duty went (or is going, until `final`)."""

    span: DutySpan
    status: str
    first_in: dt.datetime | None = None
    last_in: dt.datetime | None = None
    late: bool = False
    left_early: bool = False
    out_seconds: float = 0.0
    excursions: tuple[Excursion, ...] = ()
    final: bool = False

    @property
    def out_minutes(self) -> float:
        return self.out_seconds / 60

    @property
    def overnight(self) -> bool:
        """Ends on a later local date than it starts (shown with "+1")."""
        zone = timezone.get_default_timezone()
        start, end = (timezone.localtime(t, zone) for t in (self.span.start, self.span.end))
        return end.date() > start.date()


@dataclass(frozen=True)
class PersonDay:
    """One person's stretches starting on one day, judged."""

    user: User
    name: str
    badges: tuple[str, ...]
    spans: tuple[SpanAttendance, ...]

    @property
    def status(self) -> str:
        if not self.spans:
            return Status.OFF
        begun = [s.status for s in self.spans if s.status != Status.UPCOMING]
        if not begun:
            return Status.UPCOMING
        return max(begun, key=lambda status: _SEVERITY[status])

    @property
    def scheduled(self) -> bool:
        """Counted in the on-duty rate: at least one stretch has begun."""
        return self.status not in (Status.OFF, Status.UPCOMING)

    @property
    def present(self) -> bool:
        return self.status in PRESENT

    @property
    def late(self) -> bool:
        return any(s.late for s in self.spans)

    @property
    def left_early(self) -> bool:
        return any(s.left_early for s in self.spans)

    @property
    def final(self) -> bool:
        return all(s.final for s in self.spans)

    @property
    def first_in(self) -> dt.datetime | None:
        return min((s.first_in for s in self.spans if s.first_in), default=None)

    @property
    def last_in(self) -> dt.datetime | None:
        return max((s.last_in for s in self.spans if s.last_in), default=None)

    @property
    def out_minutes(self) -> float:
        return sum(s.out_minutes for s in self.spans)

    @property
    def excursions(self) -> tuple[Excursion, ...]:
        return tuple(e for s in self.spans for e in s.excursions)


@dataclass(frozen=True)
class UnitDay:
    """A unit's people on one local day, as known at `at`."""

    unit: Unit
    day: dt.date
    at: dt.datetime
    people: tuple[PersonDay, ...]

    @property
    def scheduled(self) -> int:
        return sum(1 for p in self.people if p.scheduled)

    @property
    def present(self) -> int:
        return sum(1 for p in self.people if p.present)

    @property
    def rate(self) -> float | None:
        """The on-duty rate (在岗率), present / scheduled; None when nobody is scheduled."""
        scheduled = self.scheduled
        return self.present / scheduled if scheduled else None

    def count(self, status: str) -> int:
        return sum(1 for p in self.people if p.status == status)

    @property
    def excursions(self) -> int:
        return sum(len(p.excursions) for p in self.people)

    def only(self, user_ids: Iterable[int]) -> UnitDay:
        """The same day restricted to these people (a viewer who sees part of the unit)."""
        keep = set(user_ids)
        return replace(self, people=tuple(p for p in self.people if p.user.pk in keep))


# --- Reading the roster and the fixes ------------------------------------------------------


def duty_spans(user_ids: Iterable[int], days: Sequence[dt.date]) -> dict[int, list[DutySpan]]:
    """Each user's stretches of duty starting on any of `days`, in time order (two queries)."""
    ids = list(dict.fromkeys(user_ids))
    shifts: dict[int, list[Shift]] = defaultdict(list)
    exceptions: dict[int, list[RosterException]] = defaultdict(list)
    if ids:
        weekdays = sorted({day.weekday() for day in days})
        for shift in Shift.objects.filter(user_id__in=ids, weekday__in=weekdays):
            shifts[shift.user_id].append(shift)
        for exception in RosterException.objects.filter(user_id__in=ids, date__in=list(days)):
            exceptions[exception.user_id].append(exception)
    return {
        uid: sorted(
            span for day in days for span in spans_of_day(day, shifts[uid], exceptions[uid])
        )
        for uid in ids
    }


def area_paths(profile: StaffProfile | None, unit_paths: Sequence[str] = ()) -> tuple[str, ...]:
    """Where a person works: their own areas' paths (prefetched), else their unit's."""
    own = tuple(a.path for a in profile.areas.all()) if profile is not None else ()
    return own or tuple(unit_paths)


def _sane(lat: Any, lon: Any) -> bool:
    return (
        isinstance(lat, float)
        and isinstance(lon, float)
        and math.isfinite(lat)
        and math.isfinite(lon)
        and -90 <= lat <= 90
        and -180 <= lon <= 180
    )


def load_tracks(
    devices: Mapping[int, Sequence[int]],
    paths: Mapping[int, tuple[str, ...]],
    since: dt.datetime,
    until: dt.datetime,
) -> dict[int, Track]:
    """Each person's valid fixes from `since` to `until` (inclusive), in time order, with
    whether each lies in their area. `devices` maps a user id to their badges' ids, `paths`
    a user id to their service areas' paths (empty: anywhere). One query."""
    owner = {device: uid for uid, ids in devices.items() for device in ids}
    if not owner:
        return {}
    rows = list(
        Position.objects.filter(
            device_id__in=list(owner), valid=True, fixed_at__gte=since, fixed_at__lte=until
        )
        .order_by("device_id", "fixed_at")
        .values_list("device_id", "fixed_at", "lat", "lon")
    )
    good = [row for row in rows if _sane(row[2], row[3])]
    if len(good) < len(rows):
        bad = [row for row in rows if not _sane(row[2], row[3])]
        log.warning(
            "attendance ignores %d fixes with impossible coordinates (first: device %s at "
            "%s: %r, %r)",
            len(bad),
            bad[0][0],
            bad[0][1].isoformat(),
            bad[0][2],
            bad[0][3],
        )
    places = locate_many([(lat, lon) for _device, _at, lat, lon in good])
    tracks: dict[int, Track] = defaultdict(list)
    for (device, at, _lat, _lon), place in zip(good, places, strict=True):
        uid = owner[device]
        where = paths.get(uid, ())
        # str.startswith with a tuple: under any of the person's areas.
        inside = not where or (place is not None and place.grid.path.startswith(where))
        tracks[uid].append((at, device, inside))
    for track in tracks.values():
        # Several badges: their runs (each already in time order) merged by time.
        track.sort()
    return dict(tracks)


# --- Judging a stretch ---------------------------------------------------------------------


def judge(
    span: DutySpan,
    track: Track,
    now: dt.datetime,
    *,
    grace: dt.timedelta,
    minimum: dt.timedelta,
    stale: dt.timedelta,
) -> SpanAttendance:
    """How `span` went by the person's `track` (time-ordered), as known at `now`."""
    low, high = span.start - grace, span.end + grace
    if now < low:
        return SpanAttendance(span, Status.UPCOMING)
    times = [at for at, _device, _inside in track]
    seen = track[bisect.bisect_left(times, low) : bisect.bisect_right(times, min(high, now))]
    final = now >= high
    inside = [at for at, _device, here in seen if here]
    if not inside:
        status = Status.UPCOMING if now <= span.start + grace else Status.ABSENT
        return SpanAttendance(span, status, final=final)
    first_in, last_in = inside[0], inside[-1]
    late = first_in > span.start + grace
    left_early = final and last_in < span.end - grace
    status = Status.LATE if late else Status.LEFT_EARLY if left_early else Status.ON_DUTY
    runs = _runs_outside(seen, first_in, span.start, min(span.end, now), stale)
    return SpanAttendance(
        span,
        status,
        first_in=first_in,
        last_in=last_in,
        late=late,
        left_early=left_early,
        out_seconds=sum(run.duration.total_seconds() for run in runs),
        excursions=tuple(run for run in runs if run.duration > minimum),
        final=final,
    )


def _runs_outside(
    track: Track, arrival: dt.datetime, start: dt.datetime, stop: dt.datetime, stale: dt.timedelta
) -> list[Excursion]:
    """The runs outside the area after `arrival`, clipped to [start, stop)."""
    newest: dict[int, tuple[dt.datetime, bool]] = {}
    since: dt.datetime | None = None
    runs: list[Excursion] = []
    for at, device, here in track:
        if at < arrival:
            continue  # before arrival everything is outside: that is lateness
        newest[device] = (at, here)
        # In the area if any badge heard from recently says so (a lone badge: its own fix).
        inside = any(state for seen, state in newest.values() if at - seen <= stale)
        if not inside and since is None:
            since = at
        elif inside and since is not None:
            runs.append(Excursion(since, at, at))
            since = None
    if since is not None:
        runs.append(Excursion(since, None, stop))
    clipped = []
    for run in runs:
        begin, until = max(run.start, start), min(run.until, stop)
        if until > begin:
            clipped.append(Excursion(begin, run.back, until))
    return clipped


# --- A unit's day --------------------------------------------------------------------------


def _display(user: User) -> str:
    profile = getattr(user, "profile", None)
    return (profile.display_name if profile is not None else "") or user.get_username()


def _people(unit: Unit, day: dt.date) -> list[User]:
    """The unit's active field workers, and anyone else of it with duty starting on `day`."""
    user_model = get_user_model()
    # Subqueries, not joins: a join over every shift and exception a person ever had would
    # multiply the rows before DISTINCT.
    rostered = Shift.objects.filter(weekday=day.weekday()).values("user_id")
    extra = RosterException.objects.filter(date=day, kind=RosterException.Kind.EXTRA).values(
        "user_id"
    )
    return list(
        user_model._default_manager.filter(is_active=True, profile__unit=unit)
        .filter(Q(groups__name=Role.WORKER) | Q(pk__in=rostered) | Q(pk__in=extra))
        .distinct()
        .select_related("profile")
        .prefetch_related("profile__areas")
        .order_by("profile__display_name", "username")
    )


def _badges(user_ids: Iterable[int], *, active_only: bool = False) -> dict[int, list[Device]]:
    badges = Device.objects.filter(kind=DeviceKind.BADGE, staff_id__in=list(user_ids))
    if active_only:
        badges = badges.filter(active=True)
    result: dict[int, list[Device]] = defaultdict(list)
    for badge in badges.order_by("pk"):
        assert badge.staff_id is not None
        result[badge.staff_id].append(badge)
    return result


def _people_days(
    users: Sequence[User],
    unit_paths: Sequence[str],
    day: dt.date,
    now: dt.datetime,
) -> list[PersonDay]:
    spans = duty_spans((u.pk for u in users), [day])
    badges = _badges(u.pk for u in users)
    paths = {u.pk: area_paths(getattr(u, "profile", None), unit_paths) for u in users}
    g = grace()
    all_spans = [span for u in users for span in spans[u.pk]]
    tracks: dict[int, Track] = {}
    if all_spans:
        since = min(s.start for s in all_spans) - g
        until = min(max(s.end for s in all_spans) + g, now)
        if since <= until:
            tracks = load_tracks(
                {u.pk: [b.pk for b in badges[u.pk]] for u in users if spans[u.pk]},
                paths,
                since,
                until,
            )
    minimum, stale = excursion_minimum(), silence()
    return [
        PersonDay(
            user=user,
            name=_display(user),
            badges=tuple(str(b) for b in badges[user.pk]),
            spans=tuple(
                judge(span, tracks.get(user.pk, []), now, grace=g, minimum=minimum, stale=stale)
                for span in spans[user.pk]
            ),
        )
        for user in users
    ]


def unit_day(unit: Unit, day: dt.date, *, now: dt.datetime | None = None) -> UnitDay:
    """Attendance of `unit`'s people on local date `day`, as known at `now` (default: now)."""
    now = now or timezone.now()
    users = _people(unit, day)
    unit_paths = [a.path for a in unit.areas.all()]
    return UnitDay(unit, day, now, tuple(_people_days(users, unit_paths, day, now)))


def person_day(user: User, day: dt.date, *, now: dt.datetime | None = None) -> PersonDay:
    """Attendance of one person on local date `day` (whatever their unit or role)."""
    now = now or timezone.now()
    profile = StaffProfile.objects.filter(user=user).select_related("unit").first()
    unit_paths = (
        [a.path for a in profile.unit.areas.all()] if profile and profile.unit is not None else []
    )
    user = (
        get_user_model()
        ._default_manager.select_related("profile")
        .prefetch_related("profile__areas")
        .get(pk=user.pk)
    )
    return _people_days([user], unit_paths, day, now)[0]


def on_duty_rate(unit: Unit, day: dt.date, *, now: dt.datetime | None = None) -> float | None:
    """The unit's on-duty rate (在岗率) on `day`: present / scheduled, None if nobody is."""
    return unit_day(unit, day, now=now).rate


# --- Alerts --------------------------------------------------------------------------------

# Excursions nobody could be told about (no leader, no supervisor, no channel), remembered
# by this process so the log says so once rather than every minute; kept to the current ones.
_untold: set[str] = set()


@dataclass(frozen=True)
class _Alert:
    profile: StaffProfile
    span: DutySpan
    excursion: Excursion

    @property
    def key(self) -> str:
        return (
            f"fleet-out-of-area:{self.profile.user_id}:{int(self.span.start.timestamp())}:"
            f"{int(self.excursion.start.timestamp())}"
        )


def alert_out_of_area(now: dt.datetime | None = None) -> str:
    """Tell unit leaders, once per excursion, about their people outside their service area
    during a running shift. Returns a one-line summary (the periodic job's result)."""
    from yunbao.notify.models import Message

    now = now or timezone.now()
    today = timezone.localtime(now, timezone.get_default_timezone()).date()
    devices: dict[int, list[int]] = defaultdict(list)
    for device_id, staff_id in Device.objects.filter(
        kind=DeviceKind.BADGE,
        active=True,
        staff__is_active=True,
        staff__profile__unit__isnull=False,
    ).values_list("pk", "staff_id"):
        devices[staff_id].append(device_id)
    # Stretches that started yesterday may still run (night shifts).
    spans = duty_spans(devices, [today - _DAY, today])
    running = {uid: [s for s in found if now in s] for uid, found in spans.items()}
    running = {uid: found for uid, found in running.items() if found}
    if not running:
        return "out of area: nobody with a badge is on shift"
    profiles = {
        p.user_id: p
        for p in StaffProfile.objects.filter(user_id__in=list(running))
        .select_related("user", "unit", "unit__leader")
        .prefetch_related("areas", "unit__areas")
    }
    paths = {
        uid: area_paths(p, [a.path for a in p.unit.areas.all()] if p.unit else ())
        for uid, p in profiles.items()
    }
    g, minimum, stale = grace(), excursion_minimum(), silence()
    # First the last hour or so: only people seen outside lately need their whole shift read.
    recent = load_tracks(
        {uid: devices[uid] for uid in profiles}, paths, now - minimum - ALERT_LOOKBACK, now
    )
    suspects = [uid for uid, track in recent.items() if any(not here for *_, here in track)]
    alerts: list[_Alert] = []
    if suspects:
        since = min(s.start for uid in suspects for s in running[uid]) - g
        tracks = load_tracks({uid: devices[uid] for uid in suspects}, paths, since, now)
        for uid in suspects:
            for span in running[uid]:
                result = judge(
                    span, tracks.get(uid, []), now, grace=g, minimum=minimum, stale=stale
                )
                alerts.extend(_Alert(profiles[uid], span, e) for e in result.excursions)
    keys = [alert.key for alert in alerts]
    told = set(Message.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    new = [alert for alert in alerts if alert.key not in told]
    sent = sum(1 for alert in new if _tell(alert))
    _untold.intersection_update(keys)
    if sent:
        log.info("out of area at %s: %d new excursions, %d told", now.isoformat(), len(new), sent)
    return (
        f"out of area: {len(running)} on shift, {len(suspects)} seen outside, "
        f"{sent} alerted, {len(alerts) - len(new)} already alerted"
    )


def _recipients(unit: Unit) -> list[User]:
    """The unit leader; without an active one, the unit's supervisors (as the SLA sweep)."""
    if unit.leader is not None and unit.leader.is_active:
        return [unit.leader]
    user_model = get_user_model()
    return list(
        user_model._default_manager.filter(
            is_active=True, profile__unit=unit, groups__name=Role.SUPERVISOR
        ).order_by("pk")
    )


def _tell(alert: _Alert) -> bool:
    """Queue the notification of one excursion; False when there was nobody to tell."""
    from yunbao.notify.actions import notify
    from yunbao.notify.models import EventKind

    profile, span, excursion = alert.profile, alert.span, alert.excursion
    unit = profile.unit
    assert unit is not None  # only people of a unit are checked
    name = profile.display_name or profile.user.get_username()
    local = timezone.get_default_timezone()

    def hhmm(at: dt.datetime) -> str:
        return timezone.localtime(at, local).strftime("%H:%M")

    shift = f"{timezone.localtime(span.start, local):%m-%d %H:%M}–{hhmm(span.end)}"
    values = {
        "name": name,
        "unit": str(unit),
        "since": hhmm(excursion.start),
        "back": hhmm(excursion.back) if excursion.back else "",
        "minutes": round(excursion.minutes),
        "shift": shift,
    }
    # Written in the site's language, whoever runs the job.
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("%(name)s left the service area") % values
        if excursion.open:
            body = (
                _(
                    "%(name)s (%(unit)s) has been outside their service area since %(since)s, "
                    "%(minutes)d minutes so far, during the shift %(shift)s."
                )
                % values
            )
        else:
            body = (
                _(
                    "%(name)s (%(unit)s) was outside their service area from %(since)s to "
                    "%(back)s (%(minutes)d minutes) during the shift %(shift)s."
                )
                % values
            )
    with transaction.atomic():
        # The unit-alert kind: the leader's "something needs you in your unit" channel.
        messages = notify(
            kind=EventKind.UNIT_ALERT,
            recipients=_recipients(unit),
            units=[unit],
            subject=subject,
            body=body,
            dedupe_key=alert.key,
            data={
                "event": "out_of_area",
                "user": profile.user.get_username(),
                "unit": unit.code,
                "shift_start": span.start.isoformat(),
                "shift_end": span.end.isoformat(),
                "since": excursion.start.isoformat(),
                "back": excursion.back.isoformat() if excursion.back else None,
                "minutes": round(excursion.minutes, 1),
            },
        )
    if messages:
        log.warning("%s: %s", unit.code, body)
        return True
    if alert.key not in _untold:
        _untold.add(alert.key)
        log.warning("nobody to tell (no leader, supervisor or channel) in %s: %s", unit.code, body)
    return False
