"""Webhook subscriptions, for administrators: list, make, change, rotate the secret, delete.

The secret is shown when a subscription is made and when it is rotated, never otherwise
(`secret_hint` shows its first characters). Everyone but administrators gets 403. What a
receiver gets and how it checks the signature: `yunbao.api.webhooks`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from yunbao.api import webhooks
from yunbao.api.auth import AUTH, caller
from yunbao.api.errors import ApiError, ErrorOut, responses
from yunbao.api.models import WebhookSubscription
from yunbao.api.pagination import BadCursor, paginate
from yunbao.api.routes.orders import CURSOR
from yunbao.api.schemas import NO_NUL, Code
from yunbao.geo.models import Area
from yunbao.notify.models import mask
from yunbao.org.models import Role
from yunbao.org.roles import roles_of

router = Router(tags=["webhooks"], auth=AUTH)

EventName = Literal["created", "status_changed", "overdue"]
Url = Field(..., min_length=8, max_length=500, pattern=r"^https?://[^\x00-\x20]+$")


class WebhookOut(Schema):
    id: int
    client: str
    url: str
    events: list[str]
    area: str | None = Field(description="Area code; null for every order.")
    active: bool
    secret_hint: str
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The HMAC key. Shown only now: store it.")


class WebhookIn(Schema):
    client: str = Field(..., min_length=1, max_length=100, pattern=NO_NUL)
    url: str = Url
    events: list[EventName] = Field(..., min_length=1)
    area: Code | None = None
    active: bool = True


class WebhookPatch(Schema):
    client: str | None = Field(None, min_length=1, max_length=100, pattern=NO_NUL)
    url: str | None = Field(None, min_length=8, max_length=500, pattern=r"^https?://[^\x00-\x20]+$")
    events: list[EventName] | None = Field(None, min_length=1)
    area: Code | None = Field(None, description="Area code; an empty body field keeps it.")
    all_areas: bool = Field(False, description="True: every order (clears `area`).")
    active: bool | None = None


class WebhookPage(Schema):
    results: list[WebhookOut]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = Field(None, pattern=CURSOR)
    limit: int | None = Field(None, ge=1, le=1000)


def _admin_only(request: HttpRequest) -> None:
    if Role.ADMIN not in roles_of(request.user):
        raise ApiError(403, _("Only administrators manage webhooks."))


def _area(code: str | None) -> Area | None:
    if not code:
        return None
    area = Area.objects.filter(code=code).first()
    if area is None:
        raise ApiError(422, _("No area with this code."), field="area")
    return area


def _out(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": sub.pk,
        "client": sub.client,
        "url": sub.endpoint.masked_address,
        "events": list(sub.events),
        "area": sub.area.code if sub.area else None,
        "active": sub.active,
        "secret_hint": mask(sub.endpoint.secret),
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
    }


def _get(request: HttpRequest, webhook_id: int) -> WebhookSubscription:
    _admin_only(request)
    sub = None
    if 0 < webhook_id < 2**63:
        sub = (
            WebhookSubscription.objects.select_related("endpoint", "area")
            .filter(pk=webhook_id)
            .first()
        )
    if sub is None:
        raise ApiError(404, _("No such webhook subscription."))
    return sub


def _refused(exc: webhooks.WebhookError) -> ApiError:
    field, message = next(iter(exc.errors.items()))
    return ApiError(422, message, field=field)


@router.get(
    "/webhooks",
    response=responses(WebhookPage, 401, 403, 422, 429),
    summary="Webhook subscriptions (administrators)",
)
def list_webhooks(request: HttpRequest, page: Query[PageQuery]) -> WebhookPage:
    _admin_only(request)
    subs = WebhookSubscription.objects.select_related("endpoint", "area")
    try:
        rows, next_cursor = paginate(subs, order=("id",), cursor=page.cursor, limit=page.limit)
    except BadCursor as exc:
        raise ApiError(422, str(exc), field="cursor") from exc
    return WebhookPage(results=[WebhookOut(**_out(s)) for s in rows], next_cursor=next_cursor)


@router.post(
    "/webhooks",
    response=responses(WebhookCreated, 401, 403, 422, 429, ok_status=201),
    summary="Subscribe an external system (the secret is shown once)",
)
def create_webhook(request: HttpRequest, data: WebhookIn) -> Status[WebhookCreated]:
    _admin_only(request)
    try:
        sub, secret = webhooks.create_subscription(
            actor=caller(request),
            client=data.client,
            url=data.url,
            events=data.events,
            area=_area(data.area),
            active=data.active,
        )
    except webhooks.WebhookError as exc:
        raise _refused(exc) from exc
    return Status(201, WebhookCreated(**_out(sub), secret=secret))


@router.get(
    "/webhooks/{webhook_id}",
    response=responses(WebhookOut, 401, 403, 404, 422, 429),
    summary="One webhook subscription",
)
def get_webhook(request: HttpRequest, webhook_id: int) -> WebhookOut:
    return WebhookOut(**_out(_get(request, webhook_id)))


@router.patch(
    "/webhooks/{webhook_id}",
    response=responses(WebhookOut, 401, 403, 404, 422, 429),
    summary="Change a subscription (only the fields given)",
)
def update_webhook(request: HttpRequest, webhook_id: int, data: WebhookPatch) -> WebhookOut:
    sub = _get(request, webhook_id)
    area: Area | bool | None = False
    if data.all_areas:
        area = None
    elif data.area:
        area = _area(data.area)
    try:
        webhooks.update_subscription(
            sub,
            actor=caller(request),
            client=data.client,
            url=data.url,
            events=data.events,
            area=area,
            active=data.active,
        )
    except webhooks.WebhookError as exc:
        raise _refused(exc) from exc
    return WebhookOut(**_out(sub))


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response=responses(WebhookCreated, 401, 403, 404, 422, 429),
    summary="A new secret (shown once); deliveries are signed with it from now on",
)
def rotate_secret(request: HttpRequest, webhook_id: int) -> WebhookCreated:
    sub = _get(request, webhook_id)
    secret = webhooks.rotate_secret(sub, actor=caller(request))
    return WebhookCreated(**_out(sub), secret=secret)


@router.delete(
    "/webhooks/{webhook_id}",
    response={204: None, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Delete a subscription (its delivery log stays)",
)
def delete_webhook(request: HttpRequest, webhook_id: int) -> Status[None]:
    sub = _get(request, webhook_id)
    webhooks.delete_subscription(sub, actor=caller(request))
    return Status(204, None)
