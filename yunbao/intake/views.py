"""The resident's pages: report (扫码报事), the tracking page, and "my reports".

All three are public: anyone may report, a tracking page is reached only through its
unguessable token, and "my reports" lists what this phone (or account) sent. None shows a
reporter's name or phone, nor staff names.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from yunbao.geo.models import Area
from yunbao.intake import actions
from yunbao.intake.api import catalog_for
from yunbao.org.models import Role, Unit
from yunbao.org.roles import roles_of
from yunbao.workorders.actions import allowed_actions
from yunbao.workorders.models import PhotoKind, Status, WorkOrder

SW_PATH = Path(__file__).parent / "static" / "intake" / "sw.js"
# Moves a reporter is told about, in plain words; staff-internal moves are left out.
PUBLIC_MOVES = {
    "submit",
    "accept",
    "reject",
    "merge",
    "dispatch",
    "start",
    "finish",
    "verify",
    "rework",
    "suspend",
    "resume",
    "void",
    "rate",
}


def _bound_area(request: HttpRequest) -> dict[str, Any] | None:
    area: Area | None = None
    if code := request.GET.get("area", ""):
        area = Area.objects.filter(code=code).first()
    elif code := request.GET.get("unit", ""):
        unit = Unit.objects.filter(code=code, active=True).first()
        area = unit.areas.order_by("path").first() if unit else None
    if area is None:
        return None
    return {
        "code": area.code,
        "name": area.display_name,
        "lat": area.center_lat,
        "lon": area.center_lon,
        "unit": request.GET.get("unit", ""),
    }


@require_GET
@ensure_csrf_cookie
def report(request: HttpRequest) -> HttpResponse:
    """The report page; anyone may use it (no login needed)."""
    catalog = [scene.dict() for scene in catalog_for(request)]
    return render(
        request,
        "intake/report.html",
        {
            "bound_area": _bound_area(request),
            "unknown_area": bool(request.GET.get("area") or request.GET.get("unit"))
            and _bound_area(request) is None,
            "catalog": catalog,
            "max_photos": settings.YUNBAO_REPORT_MAX_PHOTOS,
            "is_inspector": Role.INSPECTOR in roles_of(request.user),
            "api": {
                "reports": "/api/v1/reports",
                "nearby": "/api/v1/reports/nearby",
            },
            "sw_url": reverse("intake-sw"),
            "tile_url": settings.YUNBAO_MAP_TILE_URL,
        },
    )


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served under /report/ so that its scope covers the report page."""
    try:
        body = SW_PATH.read_text()
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = HttpResponse(body, content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/report/"
    return response


@require_GET
def track(request: HttpRequest, token: str) -> HttpResponse:
    """The reporter's tracking page, reached only through the token in their link."""
    submission = actions.tracked_order(token)
    if submission is None:
        raise Http404
    order = submission.order
    final = order.duplicate_of or order
    shown = [order] if final == order else [order, final]
    timeline = [
        entry
        for o in shown
        for entry in o.timeline.filter(action__in=PUBLIC_MOVES).order_by("at", "id")
    ]
    photos = list(final.photos.all())
    return render(
        request,
        "intake/track.html",
        {
            **_verdict(request, order, final, token),
            "order": order,
            "final": final,
            "merged": final != order,
            "timeline": timeline,
            "before_photos": [p for p in order.photos.all() if p.kind == PhotoKind.BEFORE],
            "after_photos": [p for p in photos if p.kind == PhotoKind.AFTER]
            if final.status in (Status.HANDLED, Status.CLOSED)
            else [],
            "me_too_count": final.me_toos.count(),
        },
    )


def _verdict(
    request: HttpRequest, order: WorkOrder, final: WorkOrder, token: str
) -> dict[str, Any]:
    """The progress steps and, once closed, the reporter's rating and reopen forms.

    The token in the address is the anonymous reporter's proof; a logged-in reporter acts as
    themselves. The forms post to the field app's reporter actions (by URL name: intake does
    not import the app above it), each with a fresh idempotency key.
    """
    steps = [
        (Status.DISPATCHED.label, final.dispatched_at),
        (Status.HANDLED.label, final.handled_at),
        (Status.CLOSED.label, final.closed_at),
    ]
    reached = [
        final.status in (Status.DISPATCHED, Status.IN_PROGRESS, Status.HANDLED, Status.CLOSED),
        final.status in (Status.HANDLED, Status.CLOSED),
        final.status == Status.CLOSED,
    ]
    user = request.user if request.user.is_authenticated else None
    actor = user if user is not None and user.pk == order.reporter_id else None
    allowed = (
        set()
        if final != order  # a merged report: the outcome is the original reporter's to judge
        else {t.action for t in allowed_actions(order, actor, as_reporter=actor is None)}
    )
    reopen_until = (
        order.closed_at + timedelta(days=settings.YUNBAO_REOPEN_DAYS) if order.closed_at else None
    )
    return {
        "steps": [
            {"label": label, "at": at if done else None, "done": done}
            for (label, at), done in zip(steps, reached, strict=True)
        ],
        "can_rate": "rate" in allowed and order.rating is None,
        "can_reopen": "reopen" in allowed
        and reopen_until is not None
        and timezone.now() <= reopen_until,
        "reopen_until": reopen_until,
        "rate_url": reverse("field:reporter-action", args=[token, "rate"]),
        "reopen_url": reverse("field:reporter-action", args=[token, "reopen"]),
        "rate_key": uuid.uuid4().hex,
        "reopen_key": uuid.uuid4().hex,
    }


@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    """Everything sent from this phone or account."""
    submissions = list(actions.my_submissions(request)[:100])
    return render(request, "intake/mine.html", {"submissions": submissions})
