"""The monthly evaluation report's page: `/insight/report/?month=YYYY-MM&unit=<id>` or
`&area=<street or village code>` (the figures are `report.monthly`).

Without a subject the page is the form (month, unit or area); with one it is the report,
laid out for A4 paper (`@page`, print styles in the template): the browser's print dialog
makes the PDF ("Print / save as PDF" on the page).

Who may see which report (the dashboard's rules, `views.viewers_only` first):
- administrators and operations managers: any unit; supervisors and dispatchers: their own
  unit only (another unit is a 403; without a unit they have no unit report);
- areas: a street or village inside the viewer's areas (another is a 403, as on the
  dashboard); a unit's figures are those of its orders inside the viewer's areas;
- an unknown unit, area or month, a grid or a district, a month not yet begun: 400 with
  what was wrong.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from yunbao.geo.models import Area, Level
from yunbao.insight.indicators import INDICATORS, Filter
from yunbao.insight.report import (
    FIRST_MONTH,
    Compared,
    Monthly,
    Subject,
    durations_chart,
    monthly,
    peers_chart,
    previous_month,
    score_chart,
)
from yunbao.insight.views import (
    BadRequest,
    Scope,
    duration_text,
    filter_for_scope,
    forbidden,
    rate_text,
    today,
    trend_chart,
    viewers_only,
)
from yunbao.org.models import Role, Unit
from yunbao.org.roles import roles_of, unit_of

log = logging.getLogger(__name__)


# --- Who may see which subject ------------------------------------------------------------------


def units_for(user: Any, scope: Scope) -> QuerySet[Unit]:
    """The units whose report `user` may open: all for administrators and managers, else
    their own unit (if any)."""
    if scope.whole or Role.MANAGER in roles_of(user):
        return Unit.objects.filter(active=True).order_by("code")
    own = unit_of(user)
    return Unit.objects.filter(pk=own.pk) if own is not None else Unit.objects.none()


def areas_for(scope: Scope) -> list[Area]:
    """Streets and villages inside the viewer's areas, street by street."""
    areas = Area.objects.filter(level__in=(Level.STREET, Level.COMMUNITY))
    if not scope.whole:
        inside = Q(pk__in=[])
        for path in scope.paths:
            inside |= Q(path__startswith=path)
        areas = areas.filter(inside)
    return list(areas.order_by("path"))


class Refused(Exception):
    """A subject outside what the viewer may see (403, with the reason)."""


def parse_month(raw: str, day: dt.date) -> dt.date:
    """`YYYY-MM` (or a full date) → the month's first day; the last full month if empty."""
    if not raw:
        return previous_month(day)
    try:
        month = dt.date.fromisoformat(raw if len(raw) > 7 else f"{raw}-01").replace(day=1)
    except ValueError:
        raise BadRequest(_("“%(value)s” is not a month (YYYY-MM).") % {"value": raw[:20]}) from None
    if month > day.replace(day=1):
        raise BadRequest(_("That month has not begun."))
    if month < FIRST_MONTH:
        raise BadRequest(_("Choose a month from 2000 on."))
    return month


def parse_subject(request: HttpRequest, scope: Scope) -> Subject | None:
    """The unit or area asked for (None: the form only); BadRequest or Refused."""
    unit_raw = request.GET.get("unit", "").strip()[:20]
    area_raw = request.GET.get("area", "").strip()[:40]
    if unit_raw and area_raw:
        raise BadRequest(_("Choose a unit or an area, not both."))
    if unit_raw:
        # At most nine digits: a longer number is no id, and too large for the database.
        valid = unit_raw.isdigit() and len(unit_raw) <= 9
        unit = Unit.objects.filter(pk=int(unit_raw)).first() if valid else None
        if unit is None:
            raise BadRequest(_("Unknown unit."))
        if not units_for(request.user, scope).filter(pk=unit.pk).exists():
            raise Refused(_("%(unit)s is not your unit.") % {"unit": unit})
        return Subject(unit=unit)
    if area_raw:
        area = Area.objects.filter(code=area_raw).first()
        if area is None:
            raise BadRequest(_("Unknown area."))
        if not scope.covers(area):
            raise Refused(_("%(area)s is not one of your areas.") % {"area": area.display_name})
        if area.level not in (Level.STREET, Level.COMMUNITY):
            raise BadRequest(_("Choose a street or a village."))
        return Subject(area=area)
    return None


# --- Presentation ---------------------------------------------------------------------------------


def _signed(value: float, text: str) -> str:
    return ("+" if value > 0 else "−" if value < 0 else "±") + text


def change_text(row: Compared, kind: str) -> str:
    """The change as people read it: +3.2 pt for a rate, +0.12 for the mean rating, +5 for a
    count, −2.0 h for a duration, +1.5 for a score."""
    if row.change is None:
        return "—"
    size = abs(row.change)
    if kind == "rate":
        if INDICATORS[row.key].mean:
            return _signed(row.change, f"{size:.2f}")
        return _signed(row.change, _("%(n).1f pt") % {"n": size * 100})
    if kind == "duration":
        return _signed(row.change, duration_text(size))
    if kind == "score":
        return _signed(row.change, f"{size:.1f}")
    return _signed(row.change, f"{size:g}")


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def rows_for(m: Monthly) -> dict[str, list[dict[str, Any]]]:
    def trend(row: Compared) -> str:
        return "" if row.better is None else ("better" if row.better else "worse")

    rates = [
        {
            "key": r.key,
            "label": r.label,
            "now": rate_text(r.key, r.now),
            "before": rate_text(r.key, r.before),
            "now_parts": r.now_parts,
            "before_parts": r.before_parts,
            "change": change_text(r, "rate"),
            "trend": trend(r),
        }
        for r in m.rates
    ]
    volumes = [
        {
            "label": r.label,
            "now": r.now,
            "before": r.before,
            "change": change_text(r, "count"),
            "trend": "",
        }
        for r in m.volumes
    ]
    durations = [
        {
            "label": r.label,
            "now": duration_text(r.now),
            "before": duration_text(r.before),
            "change": change_text(r, "duration"),
            "trend": trend(r),
        }
        for r in m.durations
    ]
    scores = [
        {
            "key": r.key,
            "label": r.label,
            "now": _score(r.now),
            "before": _score(r.before),
            "change": change_text(r, "score"),
            "trend": trend(r),
        }
        for r in m.scores
    ]
    return {"rates": rates, "volumes": volumes, "durations": durations, "scores": scores}


def _form(request: HttpRequest, scope: Scope, month: dt.date | None) -> dict[str, Any]:
    return {
        "scope": scope,
        "units": units_for(request.user, scope),
        "areas": areas_for(scope),
        "month_value": (month or previous_month(today())).strftime("%Y-%m"),
        "max_month": today().strftime("%Y-%m"),
    }


def base_filter(scope: Scope) -> Filter:
    """The viewer's areas, no period: the district for administrators."""
    return filter_for_scope(scope)


@viewers_only
@require_GET
def report(request: HttpRequest, scope: Scope) -> HttpResponse:
    try:
        month = parse_month(request.GET.get("month", "").strip()[:10], today())
        subject = parse_subject(request, scope)
    except Refused as exc:
        return forbidden(request, str(exc))
    except BadRequest as exc:
        log.info("insight report: bad request from %s: %s", request.user, exc)
        context = {"error": str(exc), **_form(request, scope, None)}
        return render(request, "insight/report.html", context, status=400)
    context = _form(request, scope, month)
    if subject is None:
        return render(request, "insight/report.html", context)
    m = monthly(subject, month, base_filter(scope), scope.covers)
    components = [
        {
            "label": c.label,
            "weight": f"{c.weight:g}",
            "share": "—" if c.share is None else f"{c.share * 100:.0f}%",
            "value": "—" if c.value is None else f"{c.value * 100:.1f}%",
            "points": "—" if c.points is None else f"{c.points:.1f}",
        }
        for c in m.components
    ]
    dashboard_query = f"start={m.start.isoformat()}&end={m.end.isoformat()}"
    if subject.unit is not None:
        dashboard_query += f"&unit={subject.unit.pk}"
    elif subject.area is not None:
        dashboard_query += f"&area={subject.area.code}"
    context.update(
        {
            "m": m,
            "subject": subject,
            "rows": rows_for(m),
            "chart": trend_chart(m.days, "on_time_closing", "day"),
            "durations_chart": durations_chart(m.now),
            "peers_chart": peers_chart(m.peers),
            "score_chart": score_chart(m.components),
            "components": components,
            "score": _score(m.score),
            "previous_score": _score(m.previous_score),
            "position": m.position,
            "peer_count": len(m.peers),
            "dashboard_url": f"{reverse('insight:dashboard')}?{dashboard_query}",
            "xlsx_url": f"{reverse('insight:export-indicators', args=['xlsx'])}?{dashboard_query}",
            "generated": today(),
        }
    )
    return render(request, "insight/report.html", context)
