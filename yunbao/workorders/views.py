"""Order pages: the order with photos, map and timeline, and the move buttons.

Who may see an order is decided only by `WorkOrder.objects.visible_to`; an order someone may
not see is a 404, not a 403, so its number reveals nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from yunbao.lib.svgmap import area_map_svg
from yunbao.org.models import Role
from yunbao.org.roles import roles_of
from yunbao.workorders.actions import TransitionError, allowed_actions
from yunbao.workorders.forms import MoveForm, run_move
from yunbao.workorders.models import PhotoKind, WorkOrder
from yunbao.workorders.panels import panels_for
from yunbao.workorders.transitions import TRANSITIONS

log = logging.getLogger(__name__)

STAFF_ROLES = {
    Role.DISPATCHER,
    Role.SUPERVISOR,
    Role.MANAGER,
    Role.INSPECTOR,
    Role.WORKER,
    Role.ADMIN,
}


def _user(request: HttpRequest) -> User:
    """The logged-in user (every view here is behind login_required)."""
    assert isinstance(request.user, User)
    return request.user


def _visible_order(request: HttpRequest, number: str) -> WorkOrder:
    return get_object_or_404(
        WorkOrder.objects.visible_to(request.user).select_related(
            "category", "scene", "grid", "unit", "worker", "reporter", "duplicate_of"
        ),
        number=number,
    )


@login_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = _visible_order(request, number)
    moves = [
        {"transition": t, "form": MoveForm(action=t.action, order=order, prefix=t.action)}
        for t in allowed_actions(order, _user(request))
    ]
    return render(request, "workorders/order_detail.html", _context(request, order, moves))


def _context(request: HttpRequest, order: WorkOrder, moves: list[dict[str, Any]]) -> dict[str, Any]:
    photos = list(order.photos.all())
    now = timezone.now()
    due = order.current_due
    return {
        "order": order,
        "areas": order.grid.ancestors() if order.grid else [],
        "timeline": order.timeline.select_related("actor").all(),
        "before_photos": [p for p in photos if p.kind == PhotoKind.BEFORE],
        "after_photos": [p for p in photos if p.kind == PhotoKind.AFTER],
        "map_svg": area_map_svg(order.grid.geometry, order.lat, order.lon) if order.grid else "",
        "moves": moves,
        "panels": [
            (panel.title, render_to_string(panel.template, panel.context, request))
            for panel in panels_for(order, request.user)
        ],
        "overdue": due is not None and due < now,
        "show_contact": bool(roles_of(request.user) & STAFF_ROLES),
        "osm_url": f"https://www.openstreetmap.org/?mlat={order.lat}&mlon={order.lon}#map=18/"
        f"{order.lat}/{order.lon}",
    }


@login_required
@require_POST
def order_move(request: HttpRequest, number: str, action: str) -> HttpResponse:
    order = _visible_order(request, number)
    if action not in TRANSITIONS:
        return HttpResponse(status=404)
    form = MoveForm(request.POST, action=action, order=order, prefix=action)
    if form.is_valid():
        try:
            run_move(form, _user(request))
        except TransitionError as exc:
            log.info("move %s on %s by %s refused: %s", action, number, request.user, exc)
            messages.error(request, str(exc))
        else:
            messages.success(request, str(TRANSITIONS[action].label))
            return HttpResponseRedirect(reverse("order-detail", args=[order.number]))
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    order.refresh_from_db()
    moves = [
        {
            "transition": t,
            "form": form
            if t.action == action
            else MoveForm(action=t.action, order=order, prefix=t.action),
        }
        for t in allowed_actions(order, _user(request))
    ]
    return render(
        request, "workorders/order_detail.html", _context(request, order, moves), status=400
    )
