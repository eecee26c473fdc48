"""The operations centre's big screen (大屏) for a wall display, and the JSON it polls.

- `/insight/screen/`: a dark 1920×1080 page: this month's key indicators, a live map (open
  orders by status, staff badges and vehicles at their latest positions, a heat map of the
  last `HEAT_DAYS` days' reports by H3 cell), the overdue orders and the latest time-limit
  alarms. `screen.js` draws it from the JSON and polls it every `POLL_SECONDS`.
- `/insight/screen.json`: the same payload with a version; an unchanged answer is a 304
  (the page sends its last version in If-None-Match, like the fleet's live map).

Access is the dashboard's (`views.viewers_only`): managers, dispatchers, supervisors and
administrators, each over their own areas (`views.scope_of`); orders are further read
through `visible_to`, devices through `fleet.devices.visible_devices`.

The payload carries fixed moments only (deadlines, fix times, alarm times): how late an
order is and how old a fix is are worked out by the script, so the passing of time alone
does not change the version and a quiet wall costs a 304 every poll.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from typing import Any

import h3
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from yunbao.fleet.devices import live_rows, position_max_age, visible_devices
from yunbao.geo.models import Area, Level
from yunbao.insight import indicators
from yunbao.insight.views import Scope, filter_for_scope, preset_period, rate_text, today
from yunbao.insight.views import viewers_only as _viewers_only
from yunbao.sla.models import AlertLevel, SlaAlert
from yunbao.workorders.models import OPEN_STATUSES, Status, WorkOrder

POLL_SECONDS = 30
HEAT_DAYS = 30
# Bounds on what one answer carries, so a busy district still polls cheaply.
MAX_ORDERS = 2000
MAX_CELLS = 3000
OVERDUE_ROWS = 30
ALARM_ROWS = 20
ALARM_HOURS = 24
# The indicators on the wall, this month, in this order.
SCREEN_INDICATORS = (
    "on_time_filing",
    "on_time_dispatch",
    "on_time_handling",
    "closing_rate",
    "rework_rate",
    "satisfaction",
)
viewers_only = _viewers_only


def _scoped(user: Any, scope: Scope) -> Any:
    """Orders `user` may see, within the scope's areas (a supervisor's unit's orders
    elsewhere are theirs to open, but not the wall's: the wall shows areas)."""
    orders = WorkOrder.objects.visible_to(user)
    if scope.whole:
        return orders
    condition = Q(pk__in=[])
    for path in scope.paths:
        condition |= Q(area_path__startswith=path)
    return orders.filter(condition)


def _deadline() -> Coalesce:
    """The running stage's deadline (for ordering the overdue list)."""
    from django.db.models import Case, When

    return Coalesce(
        Case(
            When(status=Status.SUBMITTED, then=F("accept_due")),
            When(status=Status.ACCEPTED, then=F("dispatch_due")),
            When(status__in=[Status.DISPATCHED, Status.IN_PROGRESS], then=F("handle_due")),
            When(status=Status.HANDLED, then=F("check_due")),
        ),
        F("created_at"),
    )


def _kpis(scope: Scope, orders: Any, now: dt.datetime) -> list[dict[str, Any]]:
    start, end = preset_period("this_month", today())
    report = indicators.report(filter_for_scope(scope, start=start, end=end))
    tiles = [
        {
            "key": "reports",
            "label": _("Reports this month"),
            "value": str(report.counts["reports"]),
        },
        {"key": "open", "label": _("Open now"), "value": str(orders.open().count())},
        {"key": "overdue", "label": _("Overdue now"), "value": str(orders.overdue(now).count())},
    ]
    for key in SCREEN_INDICATORS:
        r = report.indicators[key]
        tiles.append(
            {
                "key": key,
                "label": str(indicators.INDICATORS[key].label),
                "value": rate_text(key, r.rate),
                "sub": f"{r.numerator}/{r.denominator}",
            }
        )
    return tiles


def _orders(orders: Any, now: dt.datetime) -> list[list[Any]]:
    """Open orders as [number, status, lat, lon, overdue]: compact, a wall holds thousands."""
    overdue = set(orders.overdue(now).values_list("pk", flat=True))
    rows = orders.open().order_by("-created_at").values_list("pk", "number", "status", "lat", "lon")
    return [
        [number, status, round(lat, 6), round(lon, 6), pk in overdue]
        for pk, number, status, lat, lon in rows[:MAX_ORDERS]
    ]


def _heat(orders: Any, now: dt.datetime) -> list[dict[str, Any]]:
    """Reports of the last `HEAT_DAYS` days per H3 cell, with each cell's outline."""
    since = now - dt.timedelta(days=HEAT_DAYS)
    counts: Counter[str] = Counter(
        dict(
            orders.filter(created_at__gte=since)
            .exclude(h3_cell="")
            .values_list("h3_cell")
            .annotate(n=Count("pk"))
            .values_list("h3_cell", "n")
        )
    )
    cells = []
    for cell, n in counts.most_common(MAX_CELLS):
        try:
            boundary = h3.cell_to_boundary(cell)
        except (ValueError, h3.H3BaseException):  # a cell stored by something else: skip it
            continue
        cells.append(
            {"cell": cell, "n": n, "outline": [[round(a, 6), round(b, 6)] for a, b in boundary]}
        )
    return cells


def _overdue(orders: Any, now: dt.datetime) -> list[dict[str, Any]]:
    rows = (
        orders.overdue(now)
        .annotate(deadline=_deadline())
        .select_related("category", "grid", "unit")
        .order_by("deadline", "pk")[:OVERDUE_ROWS]
    )
    return [
        {
            "number": o.number,
            "status": o.status,
            "category": str(o.category) if o.category else "",
            "where": o.grid.display_name if o.grid else "",
            "unit": str(o.unit) if o.unit else "",
            "due": o.deadline.isoformat(),
            "url": reverse("order-detail", args=[o.number]),
        }
        for o in rows
    ]


def _alarms(orders: Any, now: dt.datetime) -> list[dict[str, Any]]:
    alerts = (
        SlaAlert.objects.filter(
            fired_at__gte=now - dt.timedelta(hours=ALARM_HOURS),
            order__in=orders.filter(status__in=OPEN_STATUSES).values("pk"),
        )
        .select_related("order")
        .order_by("-fired_at", "-pk")[:ALARM_ROWS]
    )
    return [
        {
            "number": a.order.number,
            "level": a.level,
            "label": str(AlertLevel(a.level).label),
            "stage": a.get_stage_display(),
            "at": a.fired_at.isoformat(),
            "url": reverse("order-detail", args=[a.order.number]),
        }
        for a in alerts
    ]


def payload(user: Any, scope: Scope) -> dict[str, Any]:
    now = timezone.now()
    orders = _scoped(user, scope)
    body = {
        "kpis": _kpis(scope, orders, now),
        "orders": _orders(orders, now),
        "devices": live_rows(visible_devices(user)),
        "heat": _heat(orders, now),
        "overdue": _overdue(orders, now),
        "alarms": _alarms(orders, now),
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    body["version"] = hashlib.sha256(text.encode()).hexdigest()[:20]
    body["now"] = now.isoformat()
    return body


def _areas(scope: Scope) -> dict[str, Any]:
    roots = list(scope.roots) or list(Area.objects.filter(level=Level.DISTRICT))
    return {"type": "FeatureCollection", "features": [a.geojson_feature() for a in roots]}


def strings() -> dict[str, str]:
    """Every text screen.js shows, translated here."""
    return {
        "late": _("{time} late"),
        "minutes": _("{n} min"),
        "hours": _("{n} h"),
        "days": _("{n} d"),
        "noOverdue": _("No order is overdue."),
        "noAlarms": _("No alarm in the last 24 hours."),
        "updated": _("Updated {time}"),
        "offline": _("Connection lost; trying again…"),
        "sessionEnded": _("Your session has ended. Reload the page to log in again."),
        "mapUnavailable": _("The map could not be loaded."),
        "reports": _("{n} reports in 30 days"),
        "badge": _("Staff"),
        "vehicle": _("Vehicle"),
        "seen": _("last seen {time}"),
    }


@viewers_only
@require_GET
def screen(request: HttpRequest, scope: Scope) -> HttpResponse:
    body = payload(request.user, scope)
    return render(
        request,
        "insight/screen.html",
        {
            "initial": body,
            "areas": _areas(scope),
            "strings": strings(),
            "statuses": {value: str(label) for value, label in Status.choices},
            "open_statuses": [(s.value, s.label) for s in OPEN_STATUSES],
            "scope": scope,
            "poll_seconds": POLL_SECONDS,
            "heat_days": HEAT_DAYS,
            "tile_url": settings.YUNBAO_MAP_TILE_URL,
            "time_zone": settings.TIME_ZONE,
            "stale_after": int(position_max_age().total_seconds()),
        },
    )


def _etag_matches(header: str, version: str) -> bool:
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return version in tags or "*" in tags


@viewers_only
@require_GET
def screen_json(request: HttpRequest, scope: Scope) -> HttpResponse:
    body = payload(request.user, scope)
    response: HttpResponse
    if _etag_matches(request.headers.get("If-None-Match", ""), body["version"]):
        response = HttpResponse(status=304)
    else:
        response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    response["ETag"] = f'"{body["version"]}"'
    # Personal and changing: never from a cache without asking.
    response["Cache-Control"] = "private, no-cache"
    return response
