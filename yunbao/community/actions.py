"""The community app's verbs: every write goes through here (keyword-only `actor`).

Organisers create, edit, publish, cancel and close activities, check people in and out and
correct hours; residents sign up (with or without an account), cancel, and check in and out
by scanning the activity's check-in QR code. A refusal raises `CommunityError` with a
message for the person and changes nothing; each is logged.

The check-in QR code carries a signed token (`checkin_token`): the activity's id and its
`checkin_key`, signed with the site's secret (Django's `signing`). It is accepted only while
the event runs (from `CHECKIN_EARLY` before the start to `CHECKIN_LATE` after the end) and,
when the activity has a check-in radius, only from a phone within it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core import signing
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.community.access import may_organise_in
from yunbao.community.models import (
    Activity,
    ActivityKind,
    ActivityPhoto,
    ActivityStatus,
    Participant,
    SignUp,
    SignUpStatus,
)
from yunbao.community.points import award_hours, participant_for
from yunbao.geo.coords import haversine_m
from yunbao.geo.models import Area
from yunbao.intake.photos import PhotoError, process_photo

log = logging.getLogger(__name__)

CHECKIN_SALT = "yunbao.community.checkin"
CHECKIN_EARLY = timedelta(minutes=30)
CHECKIN_LATE = timedelta(minutes=30)
MAX_DURATION = timedelta(hours=24)
MAX_CAPACITY = 10_000
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{5,20}$")
NICKNAME_MAX = 32
SUMMARY_MAX = 4000
TITLE_MAX = 100
# A phone's reported accuracy worse than this cannot prove it is near the place.
MAX_ACCURACY_M = 500


class CommunityError(ValueError):
    """A refused action; `str()` is the message for the person (translated)."""

    def __init__(self, message: str, *, field: str = "", code: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


def _refuse(code: str, message: str, *, field: str = "", **context: Any) -> CommunityError:
    log.info("community: refused %s %s", code, context)
    return CommunityError(message, field=field, code=code)


# --- Activities ----------------------------------------------------------------------------


@dataclass
class ActivityInput:
    title: str
    kind: str
    area: Area
    place: str
    lat: float
    lon: float
    starts_at: datetime
    ends_at: datetime
    capacity: int
    description: str = ""
    checkin_radius_m: int = 0


def _validate(data: ActivityInput) -> None:
    data.title = data.title.strip()
    data.place = data.place.strip()
    data.description = data.description.strip()
    if not data.title or len(data.title) > TITLE_MAX:
        raise _refuse("title", _("Give a title of at most 100 characters."), field="title")
    if data.kind not in ActivityKind.values:
        raise _refuse("kind", _("Choose a type."), field="kind")
    if not data.place:
        raise _refuse("place", _("Say where it takes place."), field="place")
    if not (-90 <= data.lat <= 90 and -180 <= data.lon <= 180) or data.lat != data.lat:
        raise _refuse("coords", _("Pick the place on the map."), field="lat")
    if data.ends_at <= data.starts_at:
        raise _refuse("times", _("The end must come after the start."), field="ends_at")
    if data.ends_at - data.starts_at > MAX_DURATION:
        raise _refuse("times", _("An activity lasts at most 24 hours."), field="ends_at")
    if not 1 <= data.capacity <= MAX_CAPACITY:
        raise _refuse("capacity", _("Capacity must be between 1 and 10000."), field="capacity")
    if data.checkin_radius_m < 0 or data.checkin_radius_m > 50_000:
        raise _refuse("radius", _("The check-in radius is too large."), field="checkin_radius_m")


class NotAllowed(CommunityError):
    """The actor may not do this here (their role or their areas)."""


def _may_organise_in(actor: Any, area: Area) -> None:
    if not may_organise_in(actor, area):
        raise NotAllowed(_("You do not organise activities in this area."), code="area")


def create_activity(data: ActivityInput, *, actor: Any) -> Activity:
    """A new activity, as a draft of `actor`'s, who must organise in its area
    (`access.may_organise_in`)."""
    _validate(data)
    _may_organise_in(actor, data.area)
    activity = Activity.objects.create(
        title=data.title,
        kind=data.kind,
        area=data.area,
        place=data.place,
        lat=data.lat,
        lon=data.lon,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        capacity=data.capacity,
        description=data.description,
        checkin_radius_m=data.checkin_radius_m,
        organiser=actor,
    )
    log.info("activity %s created by %s", activity.pk, actor)
    return activity


def update_activity(activity: Activity, data: ActivityInput, *, actor: Any) -> Activity:
    _validate(data)
    _may_organise_in(actor, activity.area)
    _may_organise_in(actor, data.area)
    with transaction.atomic():
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if locked.status in (ActivityStatus.CLOSED, ActivityStatus.CANCELLED):
            raise _refuse("final", _("A closed or cancelled activity cannot be changed."))
        taken = locked.signups.filter(status=SignUpStatus.SIGNED_UP).count()
        if data.capacity < taken:
            raise _refuse(
                "capacity",
                _("%(n)d people have signed up already; the capacity cannot be lower.")
                % {"n": taken},
                field="capacity",
            )
        for name in (
            "title",
            "kind",
            "area",
            "place",
            "lat",
            "lon",
            "starts_at",
            "ends_at",
            "capacity",
            "description",
            "checkin_radius_m",
        ):
            setattr(locked, name, getattr(data, name))
        locked.save()
    log.info("activity %s changed by %s", activity.pk, actor)
    return locked


def set_cover(activity: Activity, content: bytes, *, name: str, actor: Any) -> None:
    """Store a cover photo through intake's photo pipeline (checked, EXIF stripped)."""
    try:
        photo = process_photo(content, name=name)
    except PhotoError as exc:
        raise _refuse("cover", str(exc), field="cover") from exc
    activity.cover.save(photo.filename, ContentFile(photo.content), save=True)


def add_photo(activity: Activity, content: bytes, *, name: str, actor: Any) -> ActivityPhoto:
    """A photo of the activity, by its organiser (through intake's photo pipeline)."""
    try:
        photo = process_photo(content, name=name)
    except PhotoError as exc:
        raise _refuse("photo", str(exc), field="photo") from exc
    row = ActivityPhoto(activity=activity, uploaded_by=actor)
    row.image.save(photo.filename, ContentFile(photo.content), save=False)
    row.thumbnail.save(photo.thumbnail_filename, ContentFile(photo.thumbnail), save=False)
    row.save()
    return row


def _move(
    activity: Activity, *, allowed: tuple[str, ...], to: str, actor: Any, **fields: Any
) -> Activity:
    with transaction.atomic():
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if locked.status not in allowed:
            raise _refuse(
                "status",
                _("Not possible while the activity is %(status)s.")
                % {"status": locked.get_status_display()},
                activity=activity.pk,
                to=to,
            )
        locked.status = to
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save()
    log.info("activity %s → %s by %s", activity.pk, to, actor)
    return locked


def publish(activity: Activity, *, actor: Any) -> Activity:
    return _move(
        activity,
        allowed=(ActivityStatus.DRAFT,),
        to=ActivityStatus.PUBLISHED,
        actor=actor,
        published_at=timezone.now(),
    )


def cancel(activity: Activity, *, actor: Any) -> Activity:
    return _move(
        activity,
        allowed=(ActivityStatus.DRAFT, ActivityStatus.PUBLISHED),
        to=ActivityStatus.CANCELLED,
        actor=actor,
    )


def close(activity: Activity, *, actor: Any, summary: str) -> Activity:
    """Close an activity with a short summary; everyone still checked in is checked out at
    the end of the event (their hours are counted to then)."""
    summary = summary.strip()
    if not summary or len(summary) > SUMMARY_MAX:
        raise _refuse(
            "summary", _("Write a short summary (at most 4000 characters)."), field="summary"
        )
    with transaction.atomic():
        closed = _move(
            activity,
            allowed=(ActivityStatus.PUBLISHED,),
            to=ActivityStatus.CLOSED,
            actor=actor,
            summary=summary,
            closed_at=timezone.now(),
        )
        open_ones = closed.signups.select_for_update().filter(
            checked_in_at__isnull=False, checked_out_at__isnull=True
        )
        for signup in open_ones:
            _finish(signup, at=min(timezone.now(), closed.ends_at))
    return closed


def new_checkin_code(activity: Activity, *, actor: Any) -> Activity:
    """Invalidate the printed check-in codes (a leaked photo of the poster) with a new key."""
    from yunbao.community.models import new_checkin_key

    Activity.objects.filter(pk=activity.pk).update(checkin_key=new_checkin_key())
    activity.refresh_from_db()
    log.info("activity %s: new check-in code by %s", activity.pk, actor)
    return activity


# --- Sign-ups ----------------------------------------------------------------------------


def _clean_contact(nickname: str, phone: str) -> tuple[str, str]:
    nickname = nickname.strip()
    phone = phone.strip()
    if not nickname or len(nickname) > NICKNAME_MAX:
        raise _refuse("nickname", _("Give a nickname of at most 32 characters."), field="nickname")
    if phone and not PHONE_RE.match(phone):
        raise _refuse("phone", _("This does not look like a phone number."), field="phone")
    return nickname, phone


def sign_up(
    activity: Activity, *, actor: Any, device: str, nickname: str, phone: str = ""
) -> SignUp:
    """Sign the person (account `actor`, else the phone's `device` token) up.

    Refused when the activity is not open, already full, or they are signed up already.
    A cancelled sign-up is taken up again (if there is room).
    """
    nickname, phone = _clean_contact(nickname, phone)
    if not (actor is not None and actor.is_authenticated) and not device:
        raise _refuse("who", _("Cannot tell who you are; enable cookies and try again."))
    with transaction.atomic():
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if not locked.is_open:
            raise _refuse("closed", _("Sign-up for this activity is closed."), activity=activity.pk)
        participant = participant_for(user=actor, device=device)
        participant.nickname = nickname
        if phone:
            participant.phone = phone
        participant.save(update_fields=["nickname", "phone"])
        existing = (
            SignUp.objects.select_for_update()
            .filter(activity=locked, participant=participant)
            .first()
        )
        if existing is not None and existing.status == SignUpStatus.SIGNED_UP:
            raise _refuse(
                "twice", _("You have signed up for this activity already."), activity=activity.pk
            )
        taken = locked.signups.filter(status=SignUpStatus.SIGNED_UP).count()
        if taken >= locked.capacity:
            raise _refuse("full", _("Sorry, this activity is full."), activity=activity.pk)
        if existing is not None:
            existing.status = SignUpStatus.SIGNED_UP
            existing.save(update_fields=["status"])
            return existing
        try:
            with transaction.atomic():
                return SignUp.objects.create(activity=locked, participant=participant)
        except IntegrityError as exc:  # a concurrent double tap
            raise _refuse("twice", _("You have signed up for this activity already.")) from exc


def cancel_sign_up(signup: SignUp, *, actor: Any) -> SignUp:
    if signup.checked_in_at is not None:
        raise _refuse("checked_in", _("You have checked in already."))
    signup.status = SignUpStatus.CANCELLED
    signup.save(update_fields=["status"])
    return signup


# --- Check-in and check-out --------------------------------------------------------------


def checkin_token(activity: Activity) -> str:
    """The token of the activity's check-in QR code."""
    return signing.dumps({"a": activity.pk, "k": activity.checkin_key}, salt=CHECKIN_SALT)


def activity_of_token(token: str) -> Activity:
    """The activity a check-in token is for; a forged, mangled or replaced token is refused."""
    try:
        payload = signing.loads(token, salt=CHECKIN_SALT)
        activity = Activity.objects.get(pk=int(payload["a"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, Activity.DoesNotExist) as exc:
        raise _refuse("token", _("This check-in code is not valid."), token=token[:40]) from exc
    if payload.get("k") != activity.checkin_key:
        raise _refuse("token", _("This check-in code has been replaced; scan the new one."))
    return activity


def checkin_window(activity: Activity) -> tuple[datetime, datetime]:
    return activity.starts_at - CHECKIN_EARLY, activity.ends_at + CHECKIN_LATE


def _check_window(activity: Activity, at: datetime) -> None:
    opens, shuts = checkin_window(activity)
    if activity.status != ActivityStatus.PUBLISHED:
        raise _refuse("status", _("Check-in for this activity is closed."), activity=activity.pk)
    if at < opens:
        raise _refuse(
            "early", _("Check-in opens 30 minutes before the start."), activity=activity.pk
        )
    if at > shuts:
        raise _refuse("late", _("Check-in for this activity is over."), activity=activity.pk)


def _check_place(
    activity: Activity, lat: float | None, lon: float | None, accuracy: float | None
) -> None:
    if not activity.checkin_radius_m:
        return
    if lat is None or lon is None or lat != lat or lon != lon:
        raise _refuse(
            "no_position",
            _("Allow location on your phone: this check-in needs to know you are there."),
            activity=activity.pk,
        )
    if accuracy is not None and accuracy > MAX_ACCURACY_M:
        raise _refuse("accuracy", _("Your position is too rough; try again outdoors."))
    distance = haversine_m(lat, lon, activity.lat, activity.lon)
    if distance > activity.checkin_radius_m + (accuracy or 0):
        raise _refuse(
            "far",
            _("You are %(m)d m from the activity; check in when you are there.")
            % {"m": round(distance)},
            activity=activity.pk,
            distance=round(distance),
        )


def self_check_in(
    activity: Activity,
    *,
    actor: Any,
    device: str,
    nickname: str = "",
    at: datetime | None = None,
    lat: float | None = None,
    lon: float | None = None,
    accuracy: float | None = None,
) -> SignUp:
    """A resident checks in by the QR code (the caller verified the token). Someone who did
    not sign up is signed up on the spot when there is room (`nickname` needed)."""
    at = at or timezone.now()
    _check_window(activity, at)
    _check_place(activity, lat, lon, accuracy)
    if not (actor is not None and actor.is_authenticated) and not device:
        raise _refuse("who", _("Cannot tell who you are; enable cookies and try again."))
    with transaction.atomic():
        participant = participant_for(user=actor, device=device)
        signup = (
            SignUp.objects.select_for_update()
            .filter(activity=activity, participant=participant, status=SignUpStatus.SIGNED_UP)
            .first()
        )
        if signup is None:
            signup = _walk_in(activity, participant, nickname)
        return _start(signup, at=at, by=None)


def _walk_in(activity: Activity, participant: Participant, nickname: str) -> SignUp:
    nickname = nickname.strip() or participant.nickname
    nickname, _phone = _clean_contact(nickname, "")
    locked = Activity.objects.select_for_update().get(pk=activity.pk)
    if locked.signups.filter(status=SignUpStatus.SIGNED_UP).count() >= locked.capacity:
        raise _refuse("full", _("Sorry, this activity is full."), activity=activity.pk)
    if participant.nickname != nickname:
        participant.nickname = nickname
        participant.save(update_fields=["nickname"])
    signup, _created = SignUp.objects.update_or_create(
        activity=locked, participant=participant, defaults={"status": SignUpStatus.SIGNED_UP}
    )
    return signup


def _start(signup: SignUp, *, at: datetime, by: Any) -> SignUp:
    if signup.checked_in_at is not None:
        raise _refuse("twice", _("You have checked in already."), signup=signup.pk)
    signup.checked_in_at = at
    signup.checked_in_by = by
    signup.save(update_fields=["checked_in_at", "checked_in_by"])
    return signup


def service_hours(signup: SignUp, until: datetime) -> Decimal:
    """Hours between check-in and `until`, counted within the event's time only, to the
    quarter hour below (nobody earns hours for waiting before the start)."""
    activity = signup.activity
    assert signup.checked_in_at is not None
    start = max(signup.checked_in_at, activity.starts_at)
    end = min(until, activity.ends_at)
    seconds = max(0.0, (end - start).total_seconds())
    quarters = int(seconds // 900)
    return (Decimal(quarters) / 4).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _finish(signup: SignUp, *, at: datetime) -> SignUp:
    if signup.checked_in_at is None:
        raise _refuse("not_in", _("Check in first: there is no check-in to check out from."))
    if signup.checked_out_at is not None:
        raise _refuse("twice_out", _("You have checked out already."), signup=signup.pk)
    signup.checked_out_at = max(at, signup.checked_in_at)
    signup.hours = service_hours(signup, signup.checked_out_at)
    signup.save(update_fields=["checked_out_at", "hours"])
    award_hours(signup)
    return signup


def self_check_out(
    activity: Activity, *, actor: Any, device: str, at: datetime | None = None
) -> SignUp:
    """A resident checks out by the QR code; without a check-in it is refused."""
    at = at or timezone.now()
    _check_window(activity, at)
    with transaction.atomic():
        participant = known_participant(actor, device)
        signup = (
            SignUp.objects.select_for_update()
            .select_related("activity")
            .filter(activity=activity, participant=participant, status=SignUpStatus.SIGNED_UP)
            .first()
            if participant is not None
            else None
        )
        if signup is None:
            raise _refuse("not_in", _("Check in first: there is no check-in to check out from."))
        return _finish(signup, at=at)


def known_participant(actor: Any, device: str) -> Participant | None:
    if actor is not None and actor.is_authenticated:
        found = Participant.objects.filter(user_id=actor.pk).first()
        if found is not None:
            return found
    if device:
        return Participant.objects.filter(device=device[:64]).first()
    return None


def organiser_check_in(signup: SignUp, *, actor: Any, at: datetime | None = None) -> SignUp:
    """The organiser checks a signed-up person in (no token, no place check; the event's
    window still holds)."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = SignUp.objects.select_for_update().select_related("activity").get(pk=signup.pk)
        _check_window(locked.activity, at)
        if locked.status != SignUpStatus.SIGNED_UP:
            raise _refuse("cancelled", _("This sign-up was cancelled."))
        return _start(locked, at=at, by=actor)


def organiser_check_out(signup: SignUp, *, actor: Any, at: datetime | None = None) -> SignUp:
    at = at or timezone.now()
    with transaction.atomic():
        locked = SignUp.objects.select_for_update().select_related("activity").get(pk=signup.pk)
        if locked.activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
            raise _refuse("status", _("Check-in for this activity is closed."))
        return _finish(locked, at=min(at, locked.activity.ends_at + CHECKIN_LATE))


def set_hours(signup: SignUp, hours: Decimal, *, actor: Any) -> SignUp:
    """The organiser corrects someone's service hours (at most the event's length)."""
    limit = Decimal(signup.activity.duration.total_seconds()) / 3600
    if hours < 0 or hours > limit:
        raise _refuse(
            "hours",
            _("Hours must be between 0 and the activity's length (%(h)s).")
            % {"h": limit.quantize(Decimal("0.01"))},
            field="hours",
        )
    with transaction.atomic():
        locked = SignUp.objects.select_for_update().select_related("activity").get(pk=signup.pk)
        if locked.checked_out_at is None:
            raise _refuse("not_out", _("Hours are set once the person has checked out."))
        locked.hours = hours.quantize(Decimal("0.01"))
        locked.save(update_fields=["hours"])
        award_hours(locked)
    log.info("sign-up %s: hours set to %s by %s", signup.pk, hours, actor)
    return locked


# --- Configuration (the admin) ------------------------------------------------------------


def save_point_rule(rule: Any, *, actor: Any) -> Any:
    """Save a points rule edited in the admin; the change applies to points earned from now
    on (entries already written keep their points)."""
    rule.save()
    log.info("point rule %s = %s (cap %s) by %s", rule.kind, rule.points, rule.daily_cap, actor)
    return rule


def save_level(level: Any, *, actor: Any) -> Any:
    level.save()
    log.info("level %s from %s points by %s", level.name, level.min_points, actor)
    return level
