"""The moves of an order's life, one route each: POST /orders/{number}/<move>.

Every route calls the verb of `yunbao.workorders.actions` (or `decide_request`) and nothing
else decides: the roles, relations, areas, statuses and required reasons are the state
machine's (`workorders.transitions.TRANSITIONS`). The API only translates its refusals:

- 404: the caller may not see the order (`visible_to`);
- 403: the caller's role or relation may never make this move on this order;
- 409: they could, but not in the order's current status (or no request is waiting, or the
  idempotency key was used for something else);
- 422: the input is wrong (a missing reason, an unknown unit, a worker of another unit …).

An optional `Idempotency-Key` header (8–64 of A–Z a–z 0–9 _ -) makes a move exactly once, as
on the field pages (`field.actions.once`, the same record): a retry with the same key gets
the first answer (`"replayed": true`) and moves nothing.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Header, Router, Schema
from ninja.files import UploadedFile

from yunbao.api.auth import AUTH, caller
from yunbao.api.errors import ApiError, responses
from yunbao.api.routes.orders import Number, visible_order
from yunbao.api.schemas import (
    IDEMPOTENCY_KEY,
    Code,
    Moment,
    MoveOut,
    Reason,
    Text,
    Username,
)
from yunbao.catalog.models import Category
from yunbao.field.actions import BadKey, KeyConflict, describe, once
from yunbao.field.photos import PhotoRefused, delete_photos, store_photos
from yunbao.org.models import Unit
from yunbao.workorders import actions as verbs
from yunbao.workorders.actions import (
    APPROVAL_OF_KIND,
    InvalidInput,
    NotAllowed,
    PhotoInput,
    allowed_actions,
)
from yunbao.workorders.models import RequestKind, RequestStatus, TimelineEntry, WorkOrder
from yunbao.workorders.transitions import TRANSITIONS

log = logging.getLogger(__name__)
router = Router(tags=["moves"], auth=AUTH)

MOVE_RESPONSES = responses(MoveOut, 401, 403, 404, 409, 422, 429)
Key = Header(
    None,
    alias="Idempotency-Key",
    pattern=IDEMPOTENCY_KEY,
    description="Optional: the same key again replays the first answer instead of moving twice.",
)


# --- How a refusal is answered -------------------------------------------------------------


def may_make(order: WorkOrder, action: str, user: Any) -> bool:
    """Whether the state machine lets `user` make `action` on `order` in some status it
    starts from (their role and relation to the order), whatever the status is now."""
    t = TRANSITIONS[action]
    probe = copy.copy(order)
    if probe.status not in t.sources:
        probe.status = t.sources[0]
    return any(a.action == action for a in allowed_actions(probe, user))


def refusal_status(order: WorkOrder, action: str, user: Any) -> int:
    """403 when the role or relation never allows the move, 409 when the status is wrong."""
    fresh = WorkOrder.objects.filter(pk=order.pk).first() or order
    return 409 if may_make(fresh, action, user) else 403


def movable(request: HttpRequest, number: str, action: str) -> WorkOrder:
    """The order, if the caller may see it (else 404) and their role or relation could
    ever make `action` on it (else 403): the state machine's answer comes before any
    lookup of the move's input, as the functions check the role first."""
    order = visible_order(request, number)
    if not may_make(order, action, request.user):
        log.info("API %s on %s by %s refused (403): role", action, number, request.user)
        raise ApiError(
            403,
            _("You may not %(action)s this order.")
            % {"action": str(TRANSITIONS[action].label).lower()},
        )
    return order


def run(
    request: HttpRequest,
    order: WorkOrder,
    action: str,
    move: Callable[[], TimelineEntry],
    key: str | None,
    *,
    transition: str | None = None,
) -> MoveOut:
    """Make `move` (once per key, if one is given) and answer it, or raise the API's error."""
    user = caller(request)
    try:
        if key:
            outcome = once(key, user=user, order=order, action=action, move=move)
            result, replayed = outcome.result, outcome.replayed
        else:
            result, replayed = describe(move()), False
    except BadKey as exc:
        raise ApiError(422, str(exc), field="Idempotency-Key") from exc
    except KeyConflict as exc:
        raise ApiError(409, str(exc), field="Idempotency-Key") from exc
    except InvalidInput as exc:
        log.info("API %s on %s by %s refused (422): %s", action, order.number, user, exc)
        raise ApiError(422, str(exc)) from exc
    except NotAllowed as exc:
        status = refusal_status(order, transition or action, user)
        log.info("API %s on %s by %s refused (%d): %s", action, order.number, user, status, exc)
        raise ApiError(status, str(exc)) from exc
    return MoveOut(
        action=result["action"],
        order=result["order"],
        status=result["status"],
        entry=result["entry"],
        at=result["at"],
        data=result.get("data") or {},
        replayed=replayed,
    )


# --- Inputs --------------------------------------------------------------------------------


class NoteIn(Schema):
    note: Text = ""


class ReasonIn(Schema):
    note: Reason = Field(..., description="Required: why.")


class AcceptIn(Schema):
    category: Code | None = Field(None, description="Category code; required if none is set.")
    urgency: Literal["normal", "urgent"] | None = None
    note: Text = ""


class MergeIn(Schema):
    into: Code = Field(..., description="Number of the order this one duplicates.")
    note: Text = ""


class DispatchIn(Schema):
    unit: Code = Field(..., description="The responsible unit's code.")
    worker: Username | None = Field(None, description="A field worker of that unit.")
    note: Text = ""


class AssignIn(Schema):
    worker: Username = Field(..., description="A field worker of the order's unit.")
    note: Text = ""


class ArriveIn(Schema):
    lat: float = Field(..., ge=-90, le=90, description="The phone's position, WGS-84.")
    lon: float = Field(..., ge=-180, le=180)
    accuracy_m: float | None = Field(None, ge=0, le=100000)


class FinishIn(Schema):
    note: Reason = Field(..., description="What was done.")


class ExtensionIn(Schema):
    until: Moment = Field(..., description="The handling deadline wanted (with time zone).")
    note: Reason


class RateIn(Schema):
    rating: int = Field(..., ge=1, le=5)
    comment: Text = ""


def _user_named(username: str, field: str) -> Any:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ApiError(422, _("No active user with this name."), field=field)
    return user


# --- The desk: accept, reject, merge, dispatch, assign ---------------------------------------


@router.post("/orders/{number}/accept", response=MOVE_RESPONSES, summary="Accept (立案)")
def accept(
    request: HttpRequest, data: AcceptIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "accept")
    category = None
    if data.category:
        category = Category.objects.filter(code=data.category, active=True).first()
        if category is None:
            raise ApiError(422, _("No active category with this code."), field="category")
    return run(
        request,
        order,
        "accept",
        lambda: verbs.accept(
            order, actor=caller(request), category=category, urgency=data.urgency, note=data.note
        ),
        key,
    )


@router.post("/orders/{number}/reject", response=MOVE_RESPONSES, summary="Reject (不予立案)")
def reject(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "reject")
    return run(
        request,
        order,
        "reject",
        lambda: verbs.reject(order, actor=caller(request), note=data.note),
        key,
    )


@router.post("/orders/{number}/merge", response=MOVE_RESPONSES, summary="Merge as a duplicate")
def merge(
    request: HttpRequest, data: MergeIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "merge")
    into = WorkOrder.objects.visible_to(request.user).filter(number=data.into).first()
    if into is None:
        raise ApiError(422, _("No such order to merge into."), field="into")
    return run(
        request,
        order,
        "merge",
        lambda: verbs.merge(order, actor=caller(request), into=into, note=data.note),
        key,
    )


@router.post("/orders/{number}/dispatch", response=MOVE_RESPONSES, summary="Dispatch (派遣)")
def dispatch(
    request: HttpRequest, data: DispatchIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "dispatch")
    unit = Unit.objects.filter(code=data.unit, active=True).first()
    if unit is None:
        raise ApiError(422, _("No active unit with this code."), field="unit")
    worker = _user_named(data.worker, "worker") if data.worker else None
    return run(
        request,
        order,
        "dispatch",
        lambda: verbs.dispatch(
            order, actor=caller(request), unit=unit, worker=worker, note=data.note
        ),
        key,
    )


@router.post("/orders/{number}/assign", response=MOVE_RESPONSES, summary="Assign another worker")
def assign(
    request: HttpRequest, data: AssignIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "assign")
    worker = _user_named(data.worker, "worker")
    return run(
        request,
        order,
        "assign",
        lambda: verbs.assign(order, actor=caller(request), worker=worker, note=data.note),
        key,
    )


# --- The worker: start, arrive, finish, return, requests -------------------------------------


@router.post("/orders/{number}/start", response=MOVE_RESPONSES, summary="Take the task (接单)")
def start(
    request: HttpRequest, data: NoteIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "start")
    return run(
        request,
        order,
        "start",
        lambda: verbs.start(order, actor=caller(request), note=data.note),
        key,
    )


@router.post(
    "/orders/{number}/arrive",
    response=MOVE_RESPONSES,
    summary="Arrived on site (到场)",
    description="Farther than ARRIVE_RADIUS_M from the order is recorded with a warning.",
)
def arrive(
    request: HttpRequest, data: ArriveIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "arrive")
    return run(
        request,
        order,
        "arrive",
        lambda: verbs.arrive(
            order, actor=caller(request), lat=data.lat, lon=data.lon, accuracy_m=data.accuracy_m
        ),
        key,
    )


@router.post(
    "/orders/{number}/finish",
    response=MOVE_RESPONSES,
    summary="Finish (处置完成) with after-photos",
    description=(
        "Multipart form: `note` and up to REPORT_MAX_PHOTOS files in `photos`. Photos uploaded "
        "before with POST /orders/{number}/photos count too; at least one is required. The "
        "photos are checked, stripped of their metadata and stored as the report page's are."
    ),
)
def finish(
    request: HttpRequest,
    data: Form[FinishIn],
    number: str = Number,
    photos: File[list[UploadedFile]] = None,  # type: ignore[assignment]
    key: str | None = Key,
) -> MoveOut:
    order = movable(request, number, "finish")
    stored: list[PhotoInput] = []
    uploads = list(photos or [])
    try:
        if uploads:
            stored = store_photos((f.name or "photo.jpg", f) for f in uploads)
        answer = run(
            request,
            order,
            "finish",
            lambda: verbs.finish(order, actor=caller(request), note=data.note, photos=stored),
            key,
        )
    except PhotoRefused as exc:
        delete_photos(stored)
        raise ApiError(422, str(exc), field="photos") from exc
    except BaseException:
        delete_photos(stored)
        raise
    if answer.replayed:
        delete_photos(stored)  # the first request's photos are the proof
    return answer


@router.post(
    "/orders/{number}/return", response=MOVE_RESPONSES, summary="Return to the dispatcher (回退)"
)
def return_order(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "return")
    return run(
        request,
        order,
        "return",
        lambda: verbs.return_order(order, actor=caller(request), note=data.note),
        key,
    )


@router.post(
    "/orders/{number}/request-extension",
    response=MOVE_RESPONSES,
    summary="Ask for more time (延期申请)",
    description="Pauses the handling clock until a supervisor decides.",
)
def request_extension(
    request: HttpRequest, data: ExtensionIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "request_extension")
    return run(
        request,
        order,
        "request_extension",
        lambda: verbs.request_change(
            order,
            actor=caller(request),
            kind=RequestKind.EXTENSION,
            note=data.note,
            until=data.until,
        ),
        key,
    )


@router.post(
    "/orders/{number}/request-suspension",
    response=MOVE_RESPONSES,
    summary="Ask to suspend (挂账申请)",
)
def request_suspension(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "request_suspension")
    return run(
        request,
        order,
        "request_suspension",
        lambda: verbs.request_change(
            order,
            actor=caller(request),
            kind=RequestKind.SUSPENSION,
            note=data.note,
        ),
        key,
    )


@router.post(
    "/orders/{number}/request-void", response=MOVE_RESPONSES, summary="Ask to void (作废申请)"
)
def request_void(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "request_void")
    return run(
        request,
        order,
        "request_void",
        lambda: verbs.request_change(
            order,
            actor=caller(request),
            kind=RequestKind.VOID,
            note=data.note,
        ),
        key,
    )


# --- The supervisor: decide requests, verify, rework, extend, suspend, resume, void ---------


def _decide(
    request: HttpRequest, number: str, *, approve: bool, note: str, key: str | None
) -> MoveOut:
    # Approving (extend, suspend, void) and refusing are the approvers' moves alike.
    order = movable(request, number, "refuse")
    pending = order.requests.filter(status=RequestStatus.PENDING).first()
    if pending is None:
        raise ApiError(409, _("No request is waiting for a decision on this order."))
    transition = APPROVAL_OF_KIND[RequestKind(pending.kind)] if approve else "refuse"
    return run(
        request,
        order,
        "approve" if approve else "refuse",
        lambda: verbs.decide_request(pending, actor=caller(request), approve=approve, note=note),
        key,
        transition=transition,
    )


@router.post(
    "/orders/{number}/approve-request",
    response=MOVE_RESPONSES,
    summary="Approve the waiting request (extension, suspension or void)",
)
def approve_request(
    request: HttpRequest, data: NoteIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    return _decide(request, number, approve=True, note=data.note, key=key)


@router.post(
    "/orders/{number}/refuse-request", response=MOVE_RESPONSES, summary="Refuse the waiting request"
)
def refuse_request(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    return _decide(request, number, approve=False, note=data.note, key=key)


@router.post("/orders/{number}/verify", response=MOVE_RESPONSES, summary="Verify and close (结案)")
def verify(
    request: HttpRequest, data: NoteIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "verify")
    return run(
        request,
        order,
        "verify",
        lambda: verbs.verify(order, actor=caller(request), note=data.note),
        key,
    )


@router.post("/orders/{number}/rework", response=MOVE_RESPONSES, summary="Send back (返工)")
def rework(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "rework")
    return run(
        request,
        order,
        "rework",
        lambda: verbs.rework(order, actor=caller(request), note=data.note),
        key,
    )


@router.post(
    "/orders/{number}/extend", response=MOVE_RESPONSES, summary="Extend the deadline (延期)"
)
def extend(
    request: HttpRequest, data: ExtensionIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "extend")
    return run(
        request,
        order,
        "extend",
        lambda: verbs.extend(order, actor=caller(request), until=data.until, note=data.note),
        key,
    )


@router.post("/orders/{number}/suspend", response=MOVE_RESPONSES, summary="Suspend (挂账)")
def suspend(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "suspend")
    return run(
        request,
        order,
        "suspend",
        lambda: verbs.suspend(order, actor=caller(request), note=data.note),
        key,
    )


@router.post("/orders/{number}/resume", response=MOVE_RESPONSES, summary="Resume")
def resume(
    request: HttpRequest, data: NoteIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "resume")
    return run(
        request,
        order,
        "resume",
        lambda: verbs.resume(order, actor=caller(request), note=data.note),
        key,
    )


@router.post("/orders/{number}/void", response=MOVE_RESPONSES, summary="Void (作废)")
def void(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "void")
    return run(
        request,
        order,
        "void",
        lambda: verbs.void(order, actor=caller(request), note=data.note),
        key,
    )


# --- The reporter: rate, reopen --------------------------------------------------------------


@router.post("/orders/{number}/rate", response=MOVE_RESPONSES, summary="Rate the result")
def rate(
    request: HttpRequest, data: RateIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "rate")
    return run(
        request,
        order,
        "rate",
        lambda: verbs.rate(order, actor=caller(request), rating=data.rating, comment=data.comment),
        key,
    )


@router.post(
    "/orders/{number}/reopen",
    response=MOVE_RESPONSES,
    summary="Not fixed: reopen (the reporter, within REOPEN_DAYS)",
)
def reopen(
    request: HttpRequest, data: ReasonIn, number: str = Number, key: str | None = Key
) -> MoveOut:
    order = movable(request, number, "reopen")
    return run(
        request,
        order,
        "reopen",
        lambda: verbs.reopen(order, actor=caller(request), note=data.note),
        key,
    )


# The moves of `TRANSITIONS` this router makes directly; `refuse` is `refuse-request`.
ROUTED = {
    "accept",
    "reject",
    "merge",
    "dispatch",
    "assign",
    "start",
    "arrive",
    "finish",
    "return",
    "request_extension",
    "request_suspension",
    "request_void",
    "refuse",
    "verify",
    "rework",
    "extend",
    "suspend",
    "resume",
    "void",
    "rate",
    "reopen",
}
assert set(TRANSITIONS) == ROUTED, "every move of the state machine has its API route"
