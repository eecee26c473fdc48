"""The field pages: the worker's tasks, the supervisor's checks, the reporter's verdict.

Who may use what:

- `/field/tasks/…` — field workers (role `worker`), for the orders assigned to them;
- `/field/check/…` — supervisors, operations managers and administrators, for the orders
  `visible_to` them (their unit's and their areas');
- `/field/t/<token>/…` — the reporter, proven by the tracking token of their report (the
  same proof the public tracking page accepts); a logged-in reporter acts as themselves.

Everything else is a 403 for the wrong role and a 404 for an order the person may not see,
so a number reveals nothing. Every action is a POST with a CSRF token and an idempotency
key (`field.actions.once`): the pages' script sends JSON-answered requests and queues them
on the phone while offline; without the script the forms post and redirect.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from yunbao.field.actions import BadKey, KeyConflict, Outcome, check_key, once, replay
from yunbao.field.forms import CHECK_ACTIONS, REPORTER_ACTIONS, WORKER_ACTIONS, ActionForm
from yunbao.field.models import FieldAction
from yunbao.field.navigation import nav_links
from yunbao.field.photos import PhotoRefused, delete_photos, store_photos
from yunbao.geo.coords import haversine_m
from yunbao.geo.locate import LocateError, check_coordinates
from yunbao.intake.actions import tracked_order
from yunbao.lib.svgmap import area_map_svg
from yunbao.org.models import Role
from yunbao.org.roles import roles_of
from yunbao.workorders import actions as moves
from yunbao.workorders.actions import InvalidInput, NotAllowed, PhotoInput, allowed_actions
from yunbao.workorders.models import (
    OrderRequest,
    PhotoKind,
    RequestKind,
    RequestStatus,
    Status,
    TimelineEntry,
    WorkOrder,
)

log = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
WORKER_ROLES = frozenset({Role.WORKER})
CHECK_ROLES = frozenset({Role.SUPERVISOR, Role.MANAGER, Role.ADMIN})
# The worker's task list: what is in their hands, and what is waiting on someone else.
TASK_STATUSES = (Status.DISPATCHED, Status.IN_PROGRESS, Status.SUSPENDED, Status.HANDLED)
# Which transition each page action makes, to ask `allowed_actions` for the buttons.
TRANSITION_OF = {
    "start": "start",
    "arrive": "arrive",
    "finish": "finish",
    "return": "return",
    "verify": "verify",
    "rework": "rework",
    "rate": "rate",
    "reopen": "reopen",
}
REQUEST_TRANSITIONS = {"request_extension", "request_suspension", "request_void"}


def _done_message(action: str, result: dict[str, Any]) -> str:
    data = result.get("data") or {}
    text = {
        "start": _("You took the task."),
        "arrive": _("Arrival recorded."),
        "finish": _("Handling reported; it waits for the supervisor's check."),
        "return": _("Returned to the dispatcher."),
        "request": _("Request sent; it waits for approval."),
        "verify": _("Verified and closed."),
        "rework": _("Sent back to the worker for rework."),
        "approve": _("Request approved."),
        "refuse": _("Request refused."),
        "rate": _("Thank you for rating the result."),
        "reopen": _("Reopened: the problem goes back for rework."),
    }[action]
    if action == "arrive" and data.get("too_far"):
        text += " " + _(
            "You are %(distance)d m from the reported place; this is recorded as a warning."
        ) % {"distance": data.get("distance_m", 0)}
    return text


def role_required(roles: frozenset[str]) -> Callable[..., Any]:
    """Logged in and holding one of `roles` (administrators always), else 403."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not roles_of(request.user) & (roles | {Role.ADMIN}):
                log.info("field page %s refused to %s: role", request.path, request.user)
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _new_key() -> str:
    return uuid.uuid4().hex


def _refused(
    request: HttpRequest, action: str, order: WorkOrder, message: str, status: int
) -> JsonResponse:
    log.info(
        "field action %s on %s by %s refused (%d): %s",
        action,
        order.number,
        request.user if request.user.is_authenticated else "reporter",
        status,
        message,
    )
    return JsonResponse({"ok": False, "detail": message}, status=status)


def _run(
    request: HttpRequest,
    *,
    user: User | None,
    order: WorkOrder,
    action: str,
    make: Callable[[ActionForm, list[PhotoInput]], Callable[[], TimelineEntry]],
    uploads: Iterable[Any] = (),
) -> JsonResponse:
    """Validate, replay or make the move; always a JSON answer (the caller may redirect)."""
    form = ActionForm(request.POST, action=action)
    if not form.is_valid():
        return _refused(request, action, order, form.first_error(), 400)
    stored: list[PhotoInput] = []
    try:
        key = check_key(form.cleaned_data["key"])
        outcome: Outcome | None = replay(key, user=user, order=order, action=action)
        if outcome is None:
            stored = store_photos((f.name or "photo.jpg", f) for f in uploads)
            outcome = once(key, user=user, order=order, action=action, move=make(form, stored))
        elif uploads:
            log.info("replayed %s on %s: uploaded photos ignored", action, order.number)
    except (BadKey, PhotoRefused, InvalidInput) as exc:
        delete_photos(stored)
        return _refused(request, action, order, str(exc), 400)
    except (KeyConflict, NotAllowed) as exc:
        delete_photos(stored)
        return _refused(request, action, order, str(exc), 409)
    except BaseException:
        delete_photos(stored)
        raise
    return JsonResponse(
        {
            **outcome.result,
            "replayed": outcome.replayed,
            "message": _done_message(action, outcome.result),
        }
    )


def _answer(
    request: HttpRequest, response: JsonResponse, *, ok_url: str, render_error: Callable[[], Any]
) -> HttpResponse:
    """JSON for the pages' script; a redirect (or the page again, with the error) for a
    plain form post."""
    body = json.loads(response.content)
    if _wants_json(request):
        if body.get("ok"):
            # Where the page goes next (the script follows it, as the form post would).
            return JsonResponse({**body, "next": ok_url})
        return response
    if body.get("ok"):
        messages.success(request, body["message"])
        return HttpResponseRedirect(ok_url)
    messages.error(request, body["detail"])
    result: HttpResponse = render_error()
    if not isinstance(result, HttpResponseRedirect):
        result.status_code = response.status_code  # the page again, with what was typed
    return result


# --- The worker's pages --------------------------------------------------------------------


def _task_queryset(request: HttpRequest) -> Any:
    return WorkOrder.objects.visible_to(request.user).filter(worker_id=request.user.pk)


def _task(request: HttpRequest, number: str) -> WorkOrder:
    return get_object_or_404(
        _task_queryset(request).select_related("category", "grid", "unit"), number=number
    )


@role_required(WORKER_ROLES)
@require_GET
def tasks(request: HttpRequest) -> HttpResponse:
    """My tasks, the nearest deadline first."""
    rows = list(
        _task_queryset(request)
        .filter(status__in=TASK_STATUSES)
        .select_related("category", "grid")
        .order_by(F("handle_due").asc(nulls_last=True), "created_at")
    )
    in_hand = [o for o in rows if o.status in (Status.DISPATCHED, Status.IN_PROGRESS)]
    return render(
        request,
        "field/tasks.html",
        {
            "in_hand": in_hand,
            "waiting": [o for o in rows if o not in in_hand],
            "now": timezone.now(),
        },
    )


def _photo_rows(order: WorkOrder, kind: str) -> list[dict[str, Any]]:
    rows = []
    for photo in order.photos.filter(kind=kind).select_related("entry"):
        distance = None
        if photo.lat is not None and photo.lon is not None:
            distance = round(haversine_m(photo.lat, photo.lon, order.lat, order.lon))
        rows.append({"photo": photo, "distance_m": distance})
    return rows


def _task_context(request: HttpRequest, order: WorkOrder, **extra: Any) -> dict[str, Any]:
    user = _user(request)
    allowed = {t.action for t in allowed_actions(order, user)}
    pending = order.requests.filter(status=RequestStatus.PENDING).first()
    name = order.category.display_name if order.category else order.number
    return {
        "order": order,
        "now": timezone.now(),
        "allowed": allowed,
        "can_request": bool(allowed & REQUEST_TRANSITIONS) and pending is None,
        "request_kinds": [
            (kind, label) for kind, label in RequestKind.choices if f"request_{kind}" in allowed
        ],
        "pending": pending,
        "before_photos": _photo_rows(order, PhotoKind.BEFORE),
        "after_photos": _photo_rows(order, PhotoKind.AFTER),
        "map_svg": area_map_svg(order.grid.geometry, order.lat, order.lon) if order.grid else "",
        "nav_links": nav_links(order.lat, order.lon, name),
        "keys": {a: _new_key() for a in WORKER_ACTIONS},
        "arrival": order.timeline.filter(action="arrive").order_by("-at", "-id").first()
        if order.arrived_at
        else None,
        "posted": {},
        "failed": "",
        **extra,
    }


@role_required(WORKER_ROLES)
@require_GET
def task(request: HttpRequest, number: str) -> HttpResponse:
    order = _task(request, number)
    return render(request, "field/task.html", _task_context(request, order))


@role_required(WORKER_ROLES)
@require_POST
def task_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    if action not in WORKER_ACTIONS:
        raise Http404
    user = _user(request)
    try:
        order = _task(request, number)
    except Http404:
        # A returned order is no longer the worker's; its queued return, sent again after
        # a lost answer, still gets its first answer rather than a 404.
        done = FieldAction.objects.filter(
            key=request.POST.get("key", ""), user=user, order__number=number, action=action
        ).first()
        if done is None:
            raise
        log.info("replayed %s on %s (key %s): no longer assigned", action, number, done.key)
        return JsonResponse(
            {
                **done.result,
                "replayed": True,
                "message": _done_message(action, done.result),
                "next": reverse("field:tasks"),
            }
        )

    def make(form: ActionForm, photos: list[PhotoInput]) -> Callable[[], TimelineEntry]:
        d = form.cleaned_data
        note = d.get("note") or ""
        match action:
            case "start":
                return lambda: moves.start(order, actor=user, note=note)
            case "arrive":
                return lambda: moves.arrive(
                    order, actor=user, lat=d["lat"], lon=d["lon"], accuracy_m=d.get("accuracy")
                )
            case "finish":
                proof = _placed(photos, d, request.POST.get("photo_times", ""))
                return lambda: moves.finish(order, actor=user, note=note, photos=proof)
            case "return":
                return lambda: moves.return_order(order, actor=user, note=note)
            case _:
                kind = d["kind"]
                until = d.get("until") if kind == RequestKind.EXTENSION else None
                return lambda: moves.request_change(
                    order, actor=user, kind=kind, note=note, until=until
                )

    response = _run(
        request,
        user=user,
        order=order,
        action=action,
        make=make,
        uploads=request.FILES.getlist("photos") if action == "finish" else (),
    )
    # Returned orders are no longer the worker's: back to the list.
    ok_url = (
        reverse("field:tasks") if action == "return" else reverse("field:task", args=[order.number])
    )
    return _answer(
        request,
        response,
        ok_url=ok_url,
        render_error=lambda: render(
            request,
            "field/task.html",
            _task_context(request, order, posted=request.POST, failed=action),
        ),
    )


def _placed(photos: list[PhotoInput], d: dict[str, Any], times: str) -> list[PhotoInput]:
    """Where and when each after-photo was taken, for the supervisor's comparison.

    A photo shrunk on the phone has lost its EXIF, so the page sends the phone's position
    when the photos were taken and each file's time; EXIF, where it survived, wins.
    """
    lat, lon = d.get("lat"), d.get("lon")
    if lat is not None and lon is not None:
        try:
            check_coordinates(lat, lon)
        except LocateError as exc:
            raise InvalidInput(str(exc)) from exc
    try:
        stamps = json.loads(times) if times else []
    except ValueError:
        stamps = []
    now = timezone.now()
    placed = []
    for i, photo in enumerate(photos):
        taken = photo.taken_at
        if taken is None and i < len(stamps) and isinstance(stamps[i], str):
            parsed = parse_datetime(stamps[i])
            # A phone's clock may be off: only a time in the last day and not ahead is used.
            if parsed is not None and parsed.tzinfo is not None and now - parsed < ONE_DAY:
                taken = min(parsed, now)
        placed.append(
            replace(
                photo,
                taken_at=taken,
                lat=photo.lat if photo.lat is not None else lat,
                lon=photo.lon if photo.lon is not None else lon,
            )
        )
    return placed


# --- The supervisor's pages ----------------------------------------------------------------


def _checkable(request: HttpRequest) -> Any:
    return WorkOrder.objects.visible_to(request.user)


@role_required(CHECK_ROLES)
@require_GET
def check_queue(request: HttpRequest) -> HttpResponse:
    """Handled orders to verify (the oldest deadline first) and requests to decide."""
    visible = _checkable(request)
    handled = list(
        visible.filter(status=Status.HANDLED)
        .select_related("category", "grid", "worker")
        .order_by(F("check_due").asc(nulls_last=True), "handled_at")
    )
    requests = list(
        OrderRequest.objects.filter(status=RequestStatus.PENDING, order__in=visible.values("pk"))
        .select_related("order", "order__category", "order__grid", "requested_by")
        .order_by("requested_at", "id")
    )
    return render(
        request,
        "field/check_queue.html",
        {"handled": handled, "requests": requests, "now": timezone.now()},
    )


def _check_context(request: HttpRequest, order: WorkOrder, **extra: Any) -> dict[str, Any]:
    user = _user(request)
    allowed = {t.action for t in allowed_actions(order, user)}
    pending = (
        order.requests.filter(status=RequestStatus.PENDING).select_related("requested_by").first()
    )
    finish = order.timeline.filter(action="finish").order_by("-at", "-id").first()
    arrival = order.timeline.filter(action="arrive").order_by("-at", "-id").first()
    approval = (
        {"extension": "extend", "suspension": "suspend", "void": "void"}[pending.kind]
        if pending
        else ""
    )
    return {
        "order": order,
        "now": timezone.now(),
        "allowed": allowed,
        "before_photos": _photo_rows(order, PhotoKind.BEFORE),
        "after_photos": _photo_rows(order, PhotoKind.AFTER),
        "finish": finish,
        "arrival": arrival,
        "pending": pending,
        "can_approve": bool(pending) and approval in allowed,
        "can_refuse": bool(pending) and "refuse" in allowed,
        "timeline": order.timeline.select_related("actor").all(),
        "radius": settings.YUNBAO_ARRIVE_RADIUS_M,
        "map_svg": area_map_svg(order.grid.geometry, order.lat, order.lon) if order.grid else "",
        "keys": {a: _new_key() for a in CHECK_ACTIONS},
        "posted": {},
        "failed": "",
        **extra,
    }


def _check_order(request: HttpRequest, number: str) -> WorkOrder:
    return get_object_or_404(
        _checkable(request).select_related("category", "grid", "unit", "worker"), number=number
    )


@role_required(CHECK_ROLES)
@require_GET
def check_order(request: HttpRequest, number: str) -> HttpResponse:
    order = _check_order(request, number)
    return render(request, "field/check.html", _check_context(request, order))


@role_required(CHECK_ROLES)
@require_POST
def check_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    order = _check_order(request, number)
    if action not in CHECK_ACTIONS:
        raise Http404
    user = _user(request)

    def make(form: ActionForm, photos: list[PhotoInput]) -> Callable[[], TimelineEntry]:
        note = form.cleaned_data.get("note") or ""
        match action:
            case "verify":
                return lambda: moves.verify(order, actor=user, note=note)
            case "rework":
                return lambda: moves.rework(order, actor=user, note=note)
            case _:
                return lambda: _decide(order, user, approve=action == "approve", note=note)

    response = _run(request, user=user, order=order, action=action, make=make)
    return _answer(
        request,
        response,
        ok_url=reverse("field:check-queue"),
        render_error=lambda: render(
            request,
            "field/check.html",
            _check_context(request, order, posted=request.POST, failed=action),
        ),
    )


def _decide(order: WorkOrder, user: User, *, approve: bool, note: str) -> TimelineEntry:
    pending = order.requests.filter(status=RequestStatus.PENDING).first()
    if pending is None:
        raise NotAllowed(_("No request is waiting for a decision on this order."))
    return moves.decide_request(pending, actor=user, approve=approve, note=note)


# --- The reporter's verdict (from the public tracking page) --------------------------------


@require_POST
def reporter_action(request: HttpRequest, token: str, action: str) -> HttpResponse:
    """Rate or reopen, for whoever holds the report's tracking link."""
    submission = tracked_order(token)
    if submission is None or action not in REPORTER_ACTIONS:
        raise Http404
    order = submission.order
    track_url = reverse("intake-track", args=[token])
    if order.duplicate_of_id is not None:
        # The outcome belongs to the order this one joined, and to its own reporter.
        response = _refused(
            request, action, order, _("Your report was joined to another; it cannot be rated."), 409
        )
        return _answer(request, response, ok_url=track_url, render_error=lambda: _back(track_url))
    # The logged-in reporter acts as themselves; anyone else holds the link, which is the
    # anonymous reporter's proof (checked above).
    user = request.user if request.user.is_authenticated else None
    if user is not None and user.pk != order.reporter_id:
        user = None
    actor = user if isinstance(user, User) else None
    as_reporter = actor is None

    def make(form: ActionForm, photos: list[PhotoInput]) -> Callable[[], TimelineEntry]:
        d = form.cleaned_data
        note = d.get("note") or ""
        if action == "rate":
            return lambda: moves.rate(
                order, actor=actor, rating=d["rating"], comment=note, as_reporter=as_reporter
            )
        return lambda: moves.reopen(order, actor=actor, note=note, as_reporter=as_reporter)

    response = _run(request, user=actor, order=order, action=action, make=make)
    return _answer(request, response, ok_url=track_url, render_error=lambda: _back(track_url))


def _back(url: str) -> HttpResponse:
    return HttpResponseRedirect(url)
