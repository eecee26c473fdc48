"""The front door: turn a report from a phone (page or API) into a work order, exactly once.

`submit_report` validates everything first (coordinates, text, photos), so a bad report
changes nothing; it locates the new order (`workorders.actions.new_order`), then, in one
transaction, saves it (`workorders.actions.submit_new`), records the submission under the
client's idempotency key,
attaches the EXIF-free photos and checks for duplicates (merging automatically when sure,
otherwise leaving a suggestion for the dispatcher). A retry with the same key returns the
first result; the same key with a different report is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from yunbao.catalog.cache import active_category, first_scene
from yunbao.catalog.models import Category
from yunbao.geo.coords import gcj02_to_wgs84
from yunbao.geo.locate import InvalidCoordinates, OutsideDistrict, check_coordinates
from yunbao.geo.models import Area
from yunbao.intake.dedupe import Decision, decide, find_candidates
from yunbao.intake.models import DuplicateSuggestion, MeToo, Submission
from yunbao.intake.photos import PhotoError, ProcessedPhoto, process_photo
from yunbao.lib import rows
from yunbao.org.models import Role, Unit
from yunbao.org.roles import roles_of
from yunbao.workorders import actions as orders
from yunbao.workorders.models import PhotoKind, Source, WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 500
# Open311 clients (a 12345 hotline's case text) may send what the GeoReport spec allows; the
# phone pages keep reports short.
MAX_DESCRIPTION_OF_SOURCE = {Source.OPEN311.value: 4000}
MAX_NICKNAME = 32
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")
CRS = ("wgs84", "gcj02")
LOCATION_SOURCES = ("gps", "map", "qr", "exif")


class ReportError(ValueError):
    """The report cannot be accepted as sent; `errors` says which field and why."""

    status = 400

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class KeyConflict(ReportError):
    """The idempotency key was already used for a different report."""

    status = 409


@dataclass
class ReportInput:
    key: str
    lat: float | str | None = None
    lon: float | str | None = None
    crs: str = "wgs84"
    location_source: str = "gps"
    area: str = ""
    unit: str = ""
    category: str = ""
    description: str = ""
    nickname: str = ""
    phone: str = ""
    device: str = ""
    photos: list[tuple[str, bytes]] = field(default_factory=list)
    # Where the report came from (workorders Source); empty: resident, or inspector by role.
    source: str = ""

    def digest(self) -> str:
        """A fingerprint of what was reported, to tell a retry from a different report."""
        body: dict[str, object] = {
            k: str(getattr(self, k)).strip()
            for k in ("lat", "lon", "crs", "area", "unit", "category", "description", "phone")
        }
        body["photos"] = [hashlib.sha256(data).hexdigest() for _, data in self.photos]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class ReportResult:
    order: WorkOrder
    submission: Submission
    created: bool
    decision: Decision | None = None

    @property
    def final_order(self) -> WorkOrder:
        """The order whose outcome the reporter will see (the original, if merged)."""
        return self.order.duplicate_of or self.order


def _field_error(name: str, message: str) -> ReportError:
    return ReportError(message, [{"field": name, "message": message}])


def _validate(data: ReportInput) -> None:
    problems: list[dict[str, str]] = []
    if not KEY_RE.match(data.key or ""):
        problems.append({"field": "key", "message": _("A valid Idempotency-Key is required.")})
    if data.crs not in CRS:
        problems.append({"field": "crs", "message": _("Unknown coordinate system.")})
    if data.location_source not in LOCATION_SOURCES:
        problems.append({"field": "location_source", "message": _("Unknown location source.")})
    limit = MAX_DESCRIPTION_OF_SOURCE.get(data.source, MAX_DESCRIPTION)
    if len(data.description) > limit:
        problems.append(
            {
                "field": "description",
                "message": _("The description is too long (at most %(n)d characters).")
                % {"n": limit},
            }
        )
    if len(data.nickname) > MAX_NICKNAME:
        problems.append({"field": "nickname", "message": _("The nickname is too long.")})
    if data.phone and not PHONE_RE.match(data.phone.strip()):
        problems.append({"field": "phone", "message": _("This does not look like a phone number.")})
    if len(data.photos) > settings.YUNBAO_REPORT_MAX_PHOTOS:
        problems.append(
            {
                "field": "photos",
                "message": _("At most %(n)d photos.") % {"n": settings.YUNBAO_REPORT_MAX_PHOTOS},
            }
        )
    if problems:
        raise ReportError(problems[0]["message"], problems)


def _bound_area(data: ReportInput) -> Area | None:
    """The area a QR code bound the report to, if any."""
    if data.area:
        area = Area.objects.filter(code=data.area).first()
        if area is None:
            raise _field_error("area", _("Unknown area in the QR code."))
        return area
    if data.unit:
        unit = Unit.objects.filter(code=data.unit, active=True).first()
        if unit is None:
            raise _field_error("unit", _("Unknown unit in the QR code."))
        return unit.areas.order_by("path").first()
    return None


def _location(
    data: ReportInput, area: Area | None, photos: list[ProcessedPhoto]
) -> tuple[float, float, str]:
    """WGS-84 coordinates and where they came from: the phone, the QR area or a photo."""
    if data.lat not in (None, "") and data.lon not in (None, ""):
        try:
            lat, lon = check_coordinates(data.lat, data.lon)
        except InvalidCoordinates as exc:
            raise _field_error("lat", str(exc)) from exc
        if data.crs == "gcj02":
            lat, lon = gcj02_to_wgs84(lat, lon)
        return lat, lon, data.location_source
    if area is not None:
        return area.center_lat, area.center_lon, "qr"
    for photo in photos:
        if photo.lat is not None and photo.lon is not None:
            return photo.lat, photo.lon, "exif"
    raise _field_error("lat", _("Where is it? Allow location, or drag the pin on the map."))


def _category(code: str) -> Category | None:
    if not code:
        return None
    category = active_category(code)
    if category is None:
        raise _field_error("category", _("Unknown category."))
    return category


def _existing(data: ReportInput) -> ReportResult | None:
    submission = Submission.objects.select_related("order").filter(key=data.key).first()
    if submission is None:
        return None
    if submission.digest != data.digest():
        log.warning("idempotency key %s reused for a different report", data.key)
        raise KeyConflict(_("This report key was already used for a different report."))
    return ReportResult(submission.order, submission, created=False)


def submit_report(data: ReportInput, *, actor: User | AnonymousUser | None) -> ReportResult:
    """Accept one report, exactly once per idempotency key.

    Everything slow (photo processing, storing files, the duplicate search) happens before
    the write transaction, so the database's write lock is held only for a few inserts.
    """
    data.description = data.description.strip()
    data.nickname = data.nickname.strip()
    data.phone = data.phone.strip()
    _validate(data)
    user = actor if actor is not None and actor.is_authenticated else None
    roles = roles_of(user) if user is not None else set()
    category = _category(data.category)
    area = _bound_area(data)
    processed = []
    for name, content in data.photos:
        try:
            processed.append(process_photo(content, name=name))
        except PhotoError as exc:
            log.info("photo %r refused: %s", name, exc.code)
            raise _field_error("photos", str(exc)) from exc
    lat, lon, location_source = _location(data, area, processed)
    at = timezone.now()
    decision = decide(
        find_candidates(
            lat=lat,
            lon=lon,
            category_id=category.pk if category else None,
            text=data.description,
            at=at,
        )
    )
    stored = _store_photos(processed)
    try:
        # Located, its clock started and its submission filled in before the transaction:
        # on SQLite the transaction holds the database's write lock from its first line, so
        # it holds only the writes.
        order = orders.new_order(
            actor=user,
            lat=lat,
            lon=lon,
            description=data.description,
            category=category,
            scene=first_scene(category) if category else None,  # type: ignore[arg-type]
            source=data.source
            or (Source.INSPECTOR if Role.INSPECTOR in roles else Source.RESIDENT),
            reporter_name=data.nickname,
            reporter_phone=data.phone,
            at=at,
            allow_outside=settings.YUNBAO_OUTSIDE_AREA_POLICY == "accept",
        )
        submission = Submission(
            key=data.key,
            digest=data.digest(),
            device=data.device[:64],
            user=user,
            tracking_token=secrets.token_urlsafe(18),
            location_source=location_source,
        )
        with transaction.atomic():
            orders.submit_new(order, actor=user)
            submission.order = order
            rows.insert(submission)
            for photo, (image_name, thumb_name) in zip(processed, stored, strict=True):
                orders.add_photo(
                    order,
                    actor=user,
                    kind=PhotoKind.BEFORE,
                    image=image_name,
                    thumbnail=thumb_name,
                    width=photo.width,
                    height=photo.height,
                    taken_at=photo.taken_at,
                    lat=photo.lat,
                    lon=photo.lon,
                )
            _apply(decision, order)
    except OutsideDistrict as exc:
        _delete(stored)
        log.info("report outside the district at %.6f,%.6f refused", lat, lon)
        raise _field_error(
            "lat", _("This place is outside the area we serve. Please call 12345 instead.")
        ) from exc
    except IntegrityError:
        _delete(stored)
        # The key was used before (a retry, maybe a concurrent one): answer with that result.
        if (existing := _existing(data)) is not None:
            return existing
        raise
    except BaseException:
        _delete(stored)
        raise
    log.info("report %s accepted (%s)", order.number, location_source)
    return ReportResult(order, submission, created=True, decision=decision)


def _store_photos(photos: list[ProcessedPhoto]) -> list[tuple[str, str]]:
    """Write the photos and thumbnails to storage; returns their stored names."""
    stored = []
    for photo in photos:
        month = timezone.now().strftime("%Y/%m")
        image = default_storage.save(f"photos/{month}/{photo.filename}", ContentFile(photo.content))
        thumb = default_storage.save(
            f"photos/{month}/{photo.thumbnail_filename}", ContentFile(photo.thumbnail)
        )
        stored.append((image, thumb))
    return stored


def _delete(stored: list[tuple[str, str]]) -> None:
    """Remove files stored for a report that was not saved after all."""
    for names in stored:
        for name in names:
            default_storage.delete(name)


def _in_default_language(message: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _(message)


def _apply(decision: Decision, order: WorkOrder) -> None:
    """Merge into the original when sure; otherwise leave suggestions for the dispatcher."""
    if decision.kind == "merge" and decision.candidate is not None:
        original = decision.candidate.order
        orders.merge(
            order,
            actor=None,
            into=original,
            # Stored text: in the district's language, not the reporter's phone's.
            note=_in_default_language("Merged automatically as a duplicate."),
            data=decision.reasons,
        )
        # The reporter is shown the original at once: no second read of it.
        if order.duplicate_of_id == original.pk:
            order.duplicate_of = original
    elif decision.kind == "suggest" and decision.candidate is not None:
        c = decision.candidate
        DuplicateSuggestion.objects.create(
            order=order,
            candidate=c.order,
            score=c.score,
            distance_m=c.distance_m,
            text_similarity=c.text_similarity,
        )


def me_too(
    order: WorkOrder, *, device: str, actor: User | AnonymousUser | None
) -> tuple[MeToo, bool]:
    """A resident confirms an open order ("me too") instead of reporting it again."""
    if not order.is_open:
        raise ReportError(_("This problem is already dealt with."))
    user = actor if actor is not None and actor.is_authenticated else None
    if not device and user is None:
        raise ReportError(_("Cannot tell who you are; enable cookies and try again."))
    key = device or f"user:{user.pk}"  # type: ignore[union-attr]
    confirmation, created = MeToo.objects.get_or_create(
        order=order, device=key[:64], defaults={"user": user}
    )
    return confirmation, created


def tracked_order(token: str) -> Submission | None:
    return (
        Submission.objects.select_related("order", "order__category", "order__duplicate_of")
        .filter(tracking_token=token)
        .first()
    )


def my_submissions(request: HttpRequest) -> QuerySet[Submission]:
    """Reports sent from this phone (device token) or by this account, newest first."""
    from yunbao.intake.devices import device_of

    condition = Q(pk__in=[])
    if device := device_of(request):
        condition |= Q(device=device)
    if request.user.is_authenticated:
        condition |= Q(user_id=request.user.pk)
    return (
        Submission.objects.filter(condition)
        .select_related("order", "order__category", "order__duplicate_of")
        .order_by("-created_at")
    )
