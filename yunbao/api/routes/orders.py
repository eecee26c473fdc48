"""Orders: the list (filtered, cursor-paginated) and one order with its timeline, photos,
waiting request and the moves the caller may make now.

Who sees what is `WorkOrder.objects.visible_to(user)` and nothing else: staff their areas
(supervisors also their unit's orders), workers the orders assigned to them, everyone what
they reported, administrators all. An order the caller may not see is a 404. Reporters'
contacts, staff names and move details are shown to staff only, as on the order page.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja import Path as PathParam

from yunbao.api.auth import AUTH, caller
from yunbao.api.errors import ApiError, responses
from yunbao.api.pagination import BadCursor, paginate
from yunbao.api.schemas import (
    CODE,
    Code,
    ContactOut,
    Moment,
    OrderDetail,
    OrderOut,
    OrderPage,
    PersonOut,
    PhotoOut,
    Ref,
    RequestOut,
    SlaOut,
    TimelineOut,
)
from yunbao.catalog.models import Category
from yunbao.geo.models import Area
from yunbao.org.models import Unit
from yunbao.org.roles import roles_of
from yunbao.sla.state import sla_state
from yunbao.workorders.actions import allowed_actions
from yunbao.workorders.models import (
    OrderRequest,
    Photo,
    RequestStatus,
    Status,
    TimelineEntry,
    WorkOrder,
)
from yunbao.workorders.views import STAFF_ROLES

log = logging.getLogger(__name__)
router = Router(tags=["orders"], auth=AUTH)

StatusName = Literal[
    "submitted",
    "accepted",
    "dispatched",
    "in_progress",
    "handled",
    "closed",
    "rejected",
    "merged",
    "suspended",
    "voided",
]
assert set(StatusName.__args__) == set(Status.values)  # type: ignore[attr-defined]

ORDER = ("-created_at", "-id")
CURSOR = r"^[A-Za-z0-9_-]{1,200}$"
Number = PathParam(..., pattern=CODE, max_length=64, description="The order's number.")


class OrderFilters(Schema):
    status: list[StatusName] = Field(
        default_factory=list, description="Only these statuses (repeat the parameter)."
    )
    category: Code | None = Field(None, description="A category code.")
    area: Code | None = Field(None, description="An area code: orders in it and below.")
    unit: Code | None = Field(None, description="A responsible unit's code.")
    assigned_to_me: bool = Field(False, description="Only orders assigned to the caller.")
    overdue: bool | None = Field(None, description="Only overdue (true) or not overdue (false).")
    created_after: Moment | None = None
    created_before: Moment | None = None
    cursor: str | None = Field(None, pattern=CURSOR, description="`next_cursor` of a page.")
    limit: int | None = Field(None, ge=1, le=1000, description="Page size (capped).")


def person(user: object) -> PersonOut | None:
    if user is None:
        return None
    profile = getattr(user, "profile", None)
    username = user.get_username()  # type: ignore[attr-defined]
    return PersonOut(username=username, name=(profile.display_name if profile else "") or username)


def is_staff(request: HttpRequest) -> bool:
    return bool(roles_of(request.user) & STAFF_ROLES)


def order_out(order: WorkOrder, *, staff: bool, now: datetime | None = None) -> dict[str, Any]:
    """The fields of `OrderOut` for `order` (contacts and names for staff only)."""
    state = sla_state(order, now or timezone.now())
    return {
        "number": order.number,
        "status": order.status,
        "status_label": str(order.get_status_display()),
        "source": order.source,
        "urgency": order.urgency,
        "category": Ref(code=order.category.code, name=order.category.display_name)
        if order.category
        else None,
        "description": order.description,
        "address": order.address,
        "lat": order.lat,
        "lon": order.lon,
        "grid": Ref(code=order.grid.code, name=order.grid.display_name) if order.grid else None,
        "unit": Ref(code=order.unit.code, name=str(order.unit)) if order.unit else None,
        "worker": person(order.worker) if staff else None,
        "reporter": ContactOut(name=order.reporter_name, phone=order.reporter_phone)
        if staff
        else None,
        "duplicate_of": order.duplicate_of.number if order.duplicate_of else None,
        "rework_count": order.rework_count,
        "rating": order.rating,
        "created_at": order.created_at,
        "accepted_at": order.accepted_at,
        "dispatched_at": order.dispatched_at,
        "started_at": order.started_at,
        "arrived_at": order.arrived_at,
        "handled_at": order.handled_at,
        "closed_at": order.closed_at,
        "updated_at": order.updated_at,
        "sla": SlaOut(
            level=state.level,
            stage=state.stage,
            due=state.due,
            warn_at=state.warn_at,
            remaining_seconds=int(state.remaining.total_seconds()),
        )
        if state
        else None,
    }


def photo_out(request: HttpRequest, photo: Photo) -> PhotoOut:
    def absolute(url: str) -> str:
        return request.build_absolute_uri(url) if url.startswith("/") else url

    return PhotoOut(
        id=photo.pk,
        kind=photo.kind,
        url=absolute(photo.image.url),
        thumbnail_url=absolute(photo.thumbnail.url) if photo.thumbnail else None,
        width=photo.width,
        height=photo.height,
        taken_at=photo.taken_at,
        lat=photo.lat,
        lon=photo.lon,
        uploaded_at=photo.created_at,
        entry=photo.entry_id,
    )


def timeline_out(entry: TimelineEntry, *, staff: bool) -> TimelineOut:
    return TimelineOut(
        id=entry.pk,
        action=entry.action,
        label=str(entry.action_label),
        from_status=entry.from_status,
        to_status=entry.to_status,
        role=entry.role,
        actor=person(entry.actor) if staff else None,
        note=entry.note,
        at=entry.at,
        on_time=entry.on_time,
        data=entry.data if staff and isinstance(entry.data, dict) else {},
    )


def request_out(pending: OrderRequest, *, staff: bool) -> RequestOut:
    return RequestOut(
        id=pending.pk,
        kind=pending.kind,
        status=pending.status,
        reason=pending.reason,
        until=pending.until,
        requested_at=pending.requested_at,
        requested_by=person(pending.requested_by) if staff else None,
    )


RELATED = ("category", "grid", "unit", "worker__profile", "duplicate_of")


def visible_order(request: HttpRequest, number: str) -> WorkOrder:
    """The order `number` if the caller may see it; a 404 otherwise (never a 403: a number
    must not reveal that an order exists in another area)."""
    order = (
        WorkOrder.objects.visible_to(request.user)
        .select_related(*RELATED)
        .filter(number=number)
        .first()
    )
    if order is None:
        raise ApiError(404, _("No such order (or not one you may see)."))
    return order


def detail(request: HttpRequest, order: WorkOrder) -> OrderDetail:
    staff = is_staff(request)
    pending = (
        order.requests.filter(status=RequestStatus.PENDING).select_related("requested_by").first()
    )
    return OrderDetail(
        **order_out(order, staff=staff),
        actions=[t.action for t in allowed_actions(order, caller(request))],
        pending_request=request_out(pending, staff=staff) if pending else None,
        timeline=[
            timeline_out(e, staff=staff)
            for e in order.timeline.select_related("actor__profile").order_by("at", "id")
        ],
        photos=[photo_out(request, p) for p in order.photos.order_by("created_at", "id")],
    )


@router.get(
    "/orders",
    response=responses(OrderPage, 401, 422, 429),
    summary="Orders the caller may see",
    description="Newest first. Filters combine with AND; pages follow `next_cursor`.",
)
def list_orders(request: HttpRequest, filters: Query[OrderFilters]) -> OrderPage:
    orders = WorkOrder.objects.visible_to(request.user).select_related(*RELATED)
    if filters.status:
        orders = orders.filter(status__in=filters.status)
    if filters.category:
        category = Category.objects.filter(code=filters.category).first()
        if category is None:
            raise ApiError(422, _("No category with this code."), field="category")
        orders = orders.filter(category=category)
    if filters.area:
        area = Area.objects.filter(code=filters.area).first()
        if area is None:
            raise ApiError(422, _("No area with this code."), field="area")
        orders = orders.in_area(area)
    if filters.unit:
        unit = Unit.objects.filter(code=filters.unit).first()
        if unit is None:
            raise ApiError(422, _("No unit with this code."), field="unit")
        orders = orders.filter(unit=unit)
    if filters.assigned_to_me:
        orders = orders.filter(worker_id=request.user.pk)
    now = timezone.now()
    if filters.overdue is True:
        orders = orders.overdue(now)
    elif filters.overdue is False:
        orders = orders.exclude(pk__in=WorkOrder.objects.overdue(now).values("pk"))
    if filters.created_after:
        orders = orders.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        orders = orders.filter(created_at__lt=filters.created_before)
    try:
        rows, next_cursor = paginate(
            orders, order=ORDER, cursor=filters.cursor, limit=filters.limit
        )
    except BadCursor as exc:
        raise ApiError(422, str(exc), field="cursor") from exc
    staff = is_staff(request)
    return OrderPage(
        results=[OrderOut(**order_out(o, staff=staff, now=now)) for o in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/orders/{number}",
    response=responses(OrderDetail, 401, 404, 422, 429),
    summary="One order: timeline, photos, waiting request, the caller's possible moves",
)
def get_order(request: HttpRequest, number: str = Number) -> OrderDetail:
    return detail(request, visible_order(request, number))
