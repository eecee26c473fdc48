"""The intake API (`/api/v1/`): report from a mini-program, an app or the report page.

Anyone may report (anonymous reports are allowed); a logged-in user's report is theirs and
must carry the CSRF token like any session request. A report is a multipart form (the
report page; any photos) or, without photos, a JSON object of the same fields (what a
mini-program's `wx.request` sends): one schema validates both, and both go through
`actions.submit_report`. Every error has one shape:
`{"detail": "...", "errors": [{"field": "...", "message": "..."}]}`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema
from ninja.errors import ValidationError
from ninja.files import UploadedFile as NinjaUploadedFile
from ninja.responses import Status
from pydantic import ValidationError as SchemaError

from yunbao.catalog.models import Category, Scene
from yunbao.geo.locate import InvalidCoordinates, check_coordinates
from yunbao.intake import actions
from yunbao.intake.dedupe import nearby_open
from yunbao.intake.devices import device_of
from yunbao.workorders.models import OPEN_STATUSES, WorkOrder

log = logging.getLogger(__name__)
router = Router(tags=["intake"])


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[FieldError] = []


class ReportIn(Schema):
    # Text in a form; a number or text in JSON (both checked by `check_coordinates`).
    lat: str | float | None = None
    lon: str | float | None = None
    crs: str = "wgs84"
    location_source: str = "gps"
    area: str = ""
    unit: str = ""
    category: str = ""
    description: str = ""
    nickname: str = ""
    phone: str = ""


class ReportOut(Schema):
    number: str
    status: str
    status_label: str
    tracking_url: str
    merged_into: str | None
    duplicate_suggested: bool


class CategoryOut(Schema):
    code: str
    name: str
    icon: str
    keywords: list[str]


class SceneOut(Schema):
    code: str
    name: str
    categories: list[CategoryOut]


class NearbyOut(Schema):
    number: str
    category: str
    status_label: str
    distance_m: float
    reported_at: datetime
    me_too_count: int


class NearbyList(Schema):
    results: list[NearbyOut]


class MeTooOut(Schema):
    count: int


class MyReport(Schema):
    number: str
    category: str
    status_label: str
    reported_at: datetime
    tracking_url: str


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Session users must prove the request came from our page; anonymous ones have no session."""
    if not request.user.is_authenticated:
        return None
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    return check.process_view(request, lambda r: HttpResponse(), (), {})


def catalog_for(request: HttpRequest) -> list[SceneOut]:
    """Scenes and their active categories, in the request's language."""
    scenes = Scene.objects.prefetch_related("categories").order_by("sort", "code")
    return [
        SceneOut(
            code=scene.code,
            name=scene.display_name,
            categories=[
                CategoryOut(code=c.code, name=c.display_name, icon=c.icon, keywords=c.keyword_list)
                for c in scene.categories.all()
                if c.active
            ],
        )
        for scene in scenes
    ]


@router.get("/catalog", response=list[SceneOut], summary="Scenes and categories to report")
def catalog(request: HttpRequest) -> list[SceneOut]:
    return catalog_for(request)


def _json_report(request: HttpRequest) -> ReportIn:
    """The report of a JSON body, validated by the form's schema; NUL characters are refused
    as the API refuses them in forms (no text column stores them)."""
    detail = _("The request body cannot be read (malformed JSON or form).")
    # django-ninja's schemas read any object's attributes, so an array would pass as an
    # empty report: only a JSON object is one.
    if not request.body.lstrip().startswith(b"{"):
        raise ValidationError([{"loc": ("body",), "msg": detail}])
    try:
        data = ReportIn.model_validate_json(request.body)
    except SchemaError as exc:
        # The field's name (a union adds the member tried after it), or the whole body.
        raise ValidationError(
            [{"loc": ("body", *e["loc"][:1]), "msg": e["msg"]} for e in exc.errors()]
        ) from exc
    for name, value in data:
        if isinstance(value, str) and "\x00" in value:
            log.info("JSON report with a NUL character in %s refused", name)
            raise ValidationError(
                [{"loc": ("body", name), "msg": _("Text may not contain NUL characters.")}]
            )
    return data


@router.post(
    "/reports",
    response={200: ReportOut, 201: ReportOut, 400: ErrorOut, 403: ErrorOut, 409: ErrorOut},
    summary="Report a problem",
    description=(
        "Multipart form with the fields below and up to REPORT_MAX_PHOTOS files in `photos`, "
        "or (without photos) a JSON object of the same fields, where `lat` and `lon` may be "
        "numbers. The `Idempotency-Key` header (8–64 of A–Z a–z 0–9 _ -) is required: a "
        "retry with the same key returns the first result (200) instead of a second order; "
        "the same key with a different report is refused (409). `crs` is `wgs84` or "
        "`gcj02` (WeChat); the server stores WGS-84."
    ),
    openapi_extra={
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        # Beside the multipart form django-ninja documents from the signature.
        "requestBody": {"content": {"application/json": {"schema": ReportIn.model_json_schema()}}},
    },
)
def create_report(
    request: HttpRequest,
    data: Form[ReportIn],
    photos: File[list[NinjaUploadedFile]] = None,  # type: ignore[assignment]
) -> Status[ReportOut | ErrorOut]:
    if _csrf_failure(request) is not None:
        return Status(403, ErrorOut(detail=_("Reload the page and try again (security check).")))
    if request.content_type == "application/json":
        # No form was sent, so `data` holds only the defaults: the body is the report.
        data = _json_report(request)
    limit = settings.YUNBAO_PHOTO_MAX_BYTES + 1
    files: list[UploadedFile] = list(photos or [])
    report = actions.ReportInput(
        key=request.headers.get("Idempotency-Key", ""),
        device=device_of(request),
        # Read at most one byte past the limit: enough to refuse a huge file, never more.
        photos=[(f.name or "", f.read(limit)) for f in files],
        **data.dict(),
    )
    try:
        result = actions.submit_report(report, actor=request.user)
    except actions.ReportError as exc:
        log.info("report refused: %s %s", exc.status, exc.errors or exc.message)
        return Status(exc.status, ErrorOut(detail=exc.message, errors=exc.errors))  # type: ignore[arg-type]
    final = result.final_order
    return Status(
        (201 if result.created else 200),
        ReportOut(
            number=result.order.number,
            status=final.status,
            status_label=final.get_status_display(),
            tracking_url=reverse("intake-track", args=[result.submission.tracking_token]),
            merged_into=result.order.duplicate_of.number if result.order.duplicate_of else None,
            duplicate_suggested=result.decision is not None and result.decision.kind == "suggest",
        ),
    )


@router.get(
    "/reports/nearby",
    response={200: NearbyList, 400: ErrorOut},
    summary="Open orders near a point (no personal data)",
)
def nearby(
    request: HttpRequest, lat: str, lon: str, category: str = "", crs: str = "wgs84"
) -> Status[NearbyList | ErrorOut]:
    try:
        lat_f, lon_f = check_coordinates(lat, lon)
    except InvalidCoordinates as exc:
        return Status(
            400, ErrorOut(detail=str(exc), errors=[FieldError(field="lat", message=str(exc))])
        )
    if crs == "gcj02":
        from yunbao.geo.coords import gcj02_to_wgs84

        lat_f, lon_f = gcj02_to_wgs84(lat_f, lon_f)
    category_id = (
        Category.objects.filter(code=category).values_list("id", flat=True).first()
        if category
        else None
    )
    results = [
        NearbyOut(
            number=order.number,
            category=order.category.display_name if order.category else "",
            status_label=order.get_status_display(),
            distance_m=round(distance, 1),
            reported_at=order.created_at,
            me_too_count=order.me_toos.count(),
        )
        for order, distance in nearby_open(lat=lat_f, lon=lon_f, category_id=category_id)
    ]
    return Status(200, NearbyList(results=results))


@router.post(
    "/reports/{number}/me-too",
    response={200: MeTooOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Confirm an open order instead of reporting it again",
)
def me_too(request: HttpRequest, number: str) -> Status[MeTooOut | ErrorOut]:
    if _csrf_failure(request) is not None:
        return Status(403, ErrorOut(detail=_("Reload the page and try again (security check).")))
    order = WorkOrder.objects.filter(number=number, status__in=OPEN_STATUSES).first()
    if order is None:
        return Status(404, ErrorOut(detail=_("No open report with this number.")))
    try:
        actions.me_too(order, device=device_of(request), actor=request.user)
    except actions.ReportError as exc:
        return Status(400, ErrorOut(detail=exc.message))
    return Status(200, MeTooOut(count=order.me_toos.count()))


@router.get("/reports/mine", response=list[MyReport], summary="Reports sent from this phone")
def mine(request: HttpRequest) -> list[MyReport]:
    return [
        MyReport(
            number=s.order.number,
            category=s.order.category.display_name if s.order.category else "",
            status_label=(s.order.duplicate_of or s.order).get_status_display(),
            reported_at=s.order.created_at,
            tracking_url=reverse("intake-track", args=[s.tracking_token]),
        )
        for s in actions.my_submissions(request)
    ]
