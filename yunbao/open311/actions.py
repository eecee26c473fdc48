"""What the Open311 endpoints do: find the jurisdiction, check the key, take a request or an
update. Views only read parameters and render; every decision is here.

A POSTed request becomes an order through intake's `submit_report`, like a report from the
phone page: the same validation, idempotency, photo pipeline, location checks, duplicate
search and (through the order's `submit` event) automatic dispatch. Open311 only adds its
own parameters (service_code, attributes, address_id / address_string, media) and keeps
what the order has no field for in `RequestDetails`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from yunbao.catalog.cache import active_category
from yunbao.catalog.models import Category
from yunbao.geo.locate import LocateError, locate
from yunbao.geo.models import Area
from yunbao.intake import actions as intake
from yunbao.intake.models import Submission
from yunbao.lib import apikeys
from yunbao.open311.models import (
    ApiClient,
    ClientUpdate,
    Datatype,
    Jurisdiction,
    RequestDetails,
    ServiceAttribute,
    UpdateStatus,
)
from yunbao.open311.params import Params
from yunbao.workorders.models import Source, WorkOrder

log = logging.getLogger(__name__)

KEY_NAMESPACE = "o311"
# The spec's limit, which intake allows for this source: one number for both checks.
MAX_DESCRIPTION = intake.MAX_DESCRIPTION_OF_SOURCE[Source.OPEN311.value]
MAX_STRING = 255
LAST_USED_EVERY = timedelta(minutes=1)
# Intake's field names → the Open311 parameter a client has to fix.
FIELD_NAMES = {
    "key": "Idempotency-Key",
    "lat": "lat",
    "lon": "long",
    "crs": "lat",
    "location_source": "lat",
    "area": "address_id",
    "unit": "address_id",
    "category": "service_code",
    "description": "description",
    "nickname": "first_name",
    "phone": "phone",
    "photos": "media",
}


class Open311Error(Exception):
    """An answer other than success: the HTTP status and every problem's description."""

    def __init__(self, status: int, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.status = status
        self.problems = problems


def _bad(problems: list[str]) -> None:
    if problems:
        raise Open311Error(400, problems)


# --- Jurisdictions and keys ----------------------------------------------------------------


def jurisdiction_for(jurisdiction_id: str) -> Jurisdiction | None:
    """The jurisdiction a request is for; None when none is configured (serve everything).

    An unknown id is a 404; a missing one is a 400 only when several jurisdictions exist.
    """
    jurisdiction_id = jurisdiction_id.strip()
    if jurisdiction_id:
        found = (
            Jurisdiction.objects.select_related("area")
            .filter(jurisdiction_id=jurisdiction_id)
            .first()
        )
        if found is None:
            log.info("open311: unknown jurisdiction %r", jurisdiction_id[:100])
            raise Open311Error(404, [_("jurisdiction_id not found.")])
        return found
    configured = list(Jurisdiction.objects.select_related("area")[:2])
    if len(configured) > 1:
        raise Open311Error(400, [_("jurisdiction_id is required.")])
    return configured[0] if configured else None


def in_jurisdiction(jurisdiction: Jurisdiction | None) -> Q:
    """The orders a jurisdiction serves (all orders when no jurisdiction is configured)."""
    if jurisdiction is None:
        return Q()
    return Q(area_path__startswith=jurisdiction.area.path)


def authenticate(api_key: str) -> ApiClient:
    """The active client whose key this is, or a 403."""
    prefix = apikeys.split_prefix(api_key.strip())
    client = ApiClient.objects.filter(key_prefix=prefix, active=True).first() if prefix else None
    if client is None or not apikeys.matches(api_key.strip(), client.key_hash):
        log.warning("open311: refused api_key %r", prefix or "(malformed)")
        raise Open311Error(403, [_("api_key is missing or not valid.")])
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at > LAST_USED_EVERY:
        # At most once a minute: a busy client should not write a row per request.
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
    return client


def create_client(name: str, contact: str = "") -> tuple[ApiClient, str]:
    """A new client and its key (the only time the key is seen)."""
    plain, prefix, digest = apikeys.new_key(KEY_NAMESPACE)
    client = ApiClient.objects.create(
        name=name, contact=contact, key_prefix=prefix, key_hash=digest
    )
    return client, plain


def rotate_key(client: ApiClient) -> str:
    """Replace a client's key; the old one stops working at once."""
    plain, prefix, digest = apikeys.new_key(KEY_NAMESPACE)
    client.key_prefix, client.key_hash = prefix, digest
    client.save(update_fields=["key_prefix", "key_hash"])
    return plain


# --- Attributes ----------------------------------------------------------------------------


def _attribute_answers(data: QueryDict) -> dict[str, list[str]]:
    """{code: [values]} from attribute[code]=v and attribute[code][]=v, empty ones dropped."""
    answers: dict[str, list[str]] = {}
    for key in data:
        if not key.startswith("attribute[") or not key.endswith("]"):
            continue
        code = key[len("attribute[") : -1]
        if code.endswith("]["):
            code = code[:-2]
        values = [v.strip() for v in data.getlist(key) if v.strip()]
        if values:
            answers.setdefault(code, []).extend(values)
    return answers


def check_attributes(category: Category, data: QueryDict, problems: list[str]) -> dict[str, object]:
    """The answers to the category's attributes, checked against their datatypes and values."""
    answers = _attribute_answers(data)
    attributes = {a.code: a for a in ServiceAttribute.objects.filter(category=category)}
    for code in answers:
        if code not in attributes or not attributes[code].variable:
            problems.append(
                _("attribute[%(code)s] is not an attribute of this service.") % {"code": code}
            )
    checked: dict[str, object] = {}
    for code, attribute in attributes.items():
        if not attribute.variable:
            continue
        given = answers.get(code, [])
        name = f"attribute[{code}]"
        if not given:
            if attribute.required:
                problems.append(_("%(name)s is required.") % {"name": name})
            continue
        if attribute.datatype != Datatype.MULTI and len(given) > 1:
            problems.append(_("%(name)s takes one value.") % {"name": name})
            continue
        value = given[0]
        if attribute.datatype == Datatype.NUMBER:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                problems.append(_("%(name)s must be a number.") % {"name": name})
                continue
            checked[code] = int(number) if number.is_integer() and "." not in value else number
        elif attribute.datatype == Datatype.DATETIME:
            try:
                moment = parse_datetime(value)
            except ValueError:
                moment = None
            if moment is None:
                problems.append(_("%(name)s must be a W3C date-time.") % {"name": name})
                continue
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            checked[code] = moment.isoformat()
        elif attribute.datatype in (Datatype.STRING, Datatype.TEXT):
            limit = MAX_STRING if attribute.datatype == Datatype.STRING else MAX_DESCRIPTION
            if len(value) > limit:
                problems.append(
                    _("%(name)s is too long (at most %(n)d characters).")
                    % {"name": name, "n": limit}
                )
                continue
            checked[code] = value
        else:
            unknown = [v for v in given if v not in attribute.keys]
            if unknown:
                problems.append(
                    _("%(name)s: “%(value)s” is not one of its values.")
                    % {"name": name, "value": unknown[0][:100]}
                )
                continue
            checked[code] = value if attribute.datatype == Datatype.SINGLE else sorted(set(given))
    return checked


# --- POST requests -------------------------------------------------------------------------


@dataclass
class Created:
    details: RequestDetails
    order: WorkOrder
    token: str
    created: bool

    @property
    def notice(self) -> str:
        merged_into = self.order.duplicate_of
        if merged_into is not None:
            return _(
                "This problem was reported before; your request joined %(number)s and will "
                "follow its outcome."
            ) % {"number": merged_into.number}
        return _("Received. Track it as %(number)s.") % {"number": self.order.number}


def _digest(data: QueryDict, files: list[tuple[str, bytes]]) -> str:
    body = {k: data.getlist(k) for k in sorted(data) if k != "api_key"}
    body["__media__"] = [hashlib.sha256(content).hexdigest() for _, content in files]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _intake_key(client: ApiClient, idempotency_key: str) -> str:
    """The intake key: a client's own Idempotency-Key, scoped to the client; else random."""
    if not idempotency_key:
        return f"o311-{secrets.token_hex(16)}"
    scoped = hashlib.sha256(f"{client.pk}\x1f{idempotency_key}".encode()).hexdigest()
    return f"o311-{scoped[:40]}"


def _area_code(
    jurisdiction: Jurisdiction | None, address_id: str, address: str, problems: list[str]
) -> str:
    """The area a request without coordinates is at: address_id is an area's code, and an
    address_string is matched against area names (it has to name exactly one)."""
    areas = Area.objects.all()
    if jurisdiction is not None:
        areas = areas.filter(path__startswith=jurisdiction.area.path)
    if address_id:
        if not areas.filter(code=address_id).exists():
            problems.append(_("address_id is not an area of this jurisdiction."))
            return ""
        return address_id
    codes = list(
        areas.filter(Q(name=address) | Q(name_en__iexact=address)).values_list("code", flat=True)[
            :2
        ]
    )
    if len(codes) != 1:
        problems.append(
            _(
                "address_string cannot be located (it must be the exact name of one area); "
                "send lat and long, or an address_id."
            )
        )
        return ""
    return codes[0]


def _check_inside(
    jurisdiction: Jurisdiction | None, lat: str, lon: str, problems: list[str]
) -> None:
    if jurisdiction is None:
        return
    try:
        location = locate(lat, lon)
    except LocateError:
        return  # bad coordinates or no grid: intake says so, by its outside-area policy
    if not location.grid.path.startswith(jurisdiction.area.path):
        problems.append(_("lat and long are outside this jurisdiction."))


def submit_request(
    *,
    client: ApiClient,
    jurisdiction: Jurisdiction | None,
    data: QueryDict,
    media: list[UploadedFile],
    idempotency_key: str = "",
) -> Created:
    """Create an order from an Open311 POST, or return the first one for a replay.

    The client's `media_url` is stored as given and never fetched: fetching a URL a client
    names would let any key holder make this server request arbitrary addresses (internal
    ones too), wait on slow hosts while a worker is busy, and publish pictures that never
    went through the photo pipeline (EXIF with positions and times). Clients that want a
    photo shown send the file itself as `media` (multipart), which goes through intake.
    """
    params = Params(data)
    problems = params.problems
    code = params.text("service_code")
    category = active_category(code) if code else None
    if not code:
        problems.append(_("service_code is required."))
    elif category is None:
        problems.append(_("service_code “%(code)s” is not a service.") % {"code": code[:100]})
    attributes = check_attributes(category, data, problems) if category is not None else {}

    lat, lon = params.text("lat"), params.text("long")
    address_id = params.text("address_id", max_length=32)
    address = params.text("address_string", max_length=255)
    area = ""
    if lat or lon:
        if not (lat and lon):
            problems.append(_("lat and long go together."))
        else:
            _check_inside(jurisdiction, lat, lon, problems)
    elif address_id or address:
        area = _area_code(jurisdiction, address_id, address, problems)
    else:
        problems.append(_("A location is required: lat and long, address_string or address_id."))

    description = params.text("description", max_length=MAX_DESCRIPTION)
    email = params.text("email", max_length=254)
    if email:
        try:
            EmailValidator()(email)
        except ValidationError:
            problems.append(_("email is not an e-mail address."))
    media_url = params.text("media_url", max_length=2000)
    if media_url:
        try:
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            problems.append(_("media_url is not an http(s) URL."))
    device_id = params.text("device_id", max_length=100)
    account_id = params.text("account_id", max_length=100)
    name = " ".join(part for part in (params.text("first_name"), params.text("last_name")) if part)
    phone = params.text("phone")
    limit = settings.YUNBAO_PHOTO_MAX_BYTES + 1
    # Read at most one byte past the limit: enough for intake to refuse a huge file.
    photos = [(f.name or "", f.read(limit)) for f in media]
    _bad(problems)

    digest = _digest(data, photos)
    report = intake.ReportInput(
        key=_intake_key(client, idempotency_key),
        lat=lat or None,
        lon=lon or None,
        location_source="gps",
        area=area,
        category=code,
        description=description,
        nickname=name,
        phone=phone,
        photos=photos,
        source=Source.OPEN311,
    )
    try:
        result = intake.submit_report(report, actor=None)
    except intake.ReportError as exc:
        log.info("open311: request refused by intake: %s", exc.errors or exc.message)
        if exc.errors:
            raise Open311Error(
                400,
                [f"{FIELD_NAMES.get(e['field'], e['field'])}: {e['message']}" for e in exc.errors],
            ) from exc
        raise Open311Error(400, [exc.message]) from exc
    details, made = RequestDetails.objects.get_or_create(
        order=result.order,
        defaults={
            "client": client,
            "jurisdiction": jurisdiction,
            "attributes": attributes,
            "media_url": media_url,
            "address_string": address,
            "email": email,
            "device_id": device_id,
            "account_id": account_id,
            "digest": digest,
        },
    )
    if not made and (details.digest != digest or details.client_id != client.pk):
        log.warning("open311: Idempotency-Key reused for another request by %s", client)
        raise Open311Error(
            400, [_("This Idempotency-Key was already used for a different request.")]
        )
    log.info("open311: %s request %s from %s", "new" if made else "replayed", result.order, client)
    return Created(details, result.order, result.submission.tracking_token, result.created)


def token_order(token: str, jurisdiction: Jurisdiction | None) -> str:
    """The number of the order a tracking token belongs to, or a 404."""
    number = (
        Submission.objects.filter(tracking_token=token)
        .filter(order__in=WorkOrder.objects.filter(in_jurisdiction(jurisdiction)))
        .values_list("order__number", flat=True)
        .first()
    )
    if number is None:
        raise Open311Error(404, [_("token not found.")])
    return number


# --- Updates -------------------------------------------------------------------------------


def post_update(
    *, client: ApiClient, jurisdiction: Jurisdiction | None, data: QueryDict
) -> ClientUpdate:
    """Record a client's note on an order (the updates extension's POST).

    No work-order move fits a note from outside: every move in `workorders.transitions`
    is a step of the case flow, needs a staff role or the reporter, and most change the
    status or a clock. So the note is kept here, beside the order: staff see it in the
    order page's Open311 panel and clients in GET servicerequestupdates; the order's
    status, deadlines and timeline are untouched, and a status the client sends is
    recorded, not applied (only staff close an order).
    """
    params = Params(data)
    problems = params.problems
    number = params.text("service_request_id")
    if not number:
        problems.append(_("service_request_id is required."))
    description = params.text("description", max_length=MAX_DESCRIPTION)
    if not description:
        problems.append(_("description is required."))
    status = params.text("status").lower()
    if status and status not in UpdateStatus.values:
        problems.append(_("status must be open or closed."))
    given_at = params.moment("updated_datetime")
    client_id = params.text("update_id", max_length=100)
    media_url = params.text("media_url", max_length=2000)
    if media_url:
        try:
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            problems.append(_("media_url is not an http(s) URL."))
    _bad(problems)
    order = WorkOrder.objects.filter(in_jurisdiction(jurisdiction), number=number).first()
    if order is None:
        raise Open311Error(404, [_("service_request_id not found.")])
    if client_id:
        earlier = ClientUpdate.objects.filter(client=client, client_update_id=client_id).first()
        if earlier is not None:
            return _replayed(earlier, order, description)
    try:
        with transaction.atomic():
            update = ClientUpdate.objects.create(
                order=order,
                client=client,
                client_update_id=client_id,
                status=status,
                description=description,
                media_url=media_url,
                updated_at=given_at or timezone.now(),
            )
    except IntegrityError:
        # A concurrent twin with the same update_id won the race.
        earlier = ClientUpdate.objects.get(client=client, client_update_id=client_id)
        return _replayed(earlier, order, description)
    log.info("open311: update %s on %s from %s", update.update_id, order, client)
    return update


def _replayed(earlier: ClientUpdate, order: WorkOrder, description: str) -> ClientUpdate:
    if earlier.order_id != order.pk or earlier.description != description:
        raise Open311Error(400, [_("update_id was already used for a different update.")])
    return earlier
