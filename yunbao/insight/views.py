"""The operations centre's pages: the indicator dashboard and the orders behind each number.

- `/insight/?start=&end=&street=&village=&grid=&unit=&scene=&category=&source=&by=&series=`:
  every indicator of `indicators.INDICATORS` as a tile (rate, numerator ÷ denominator, the
  formula and the standard's definition), the volumes, each stage's mean and 90th
  percentile duration, the composite scores, a trend chart (inline SVG drawn here, by day,
  week or month) and the unit and village rankings. Every number links to the drill-down.
- `/insight/orders/?indicator=&part=numerator|denominator&<the same filters>`: the orders
  behind one number (`drilldown.orders_behind`), paginated, each linking to its order page.

The figures come from the aggregates only (`indicators.dashboard`); the drill-down reads
the orders and applies `WorkOrder.objects.visible_to`, so it never lists an order the
viewer may not open, even where the number counts it.

Who may see what
----------------
- Operations managers, dispatchers, supervisors and administrators (`VIEWER_ROLES`); anyone
  else logged in gets 403, an anonymous visitor the login page.
- Administrators see the whole district (every area; no area filter by default).
- The others see their own areas (`org.roles.areas_of`): the street/village/grid choices are
  those areas and what lies inside them, and with no area chosen the figures are those of
  all their areas together (`AreasFilter`). An area outside theirs is refused with 403
  rather than quietly clamped: a bookmarked link then says plainly it is not theirs. A
  district-level manager's area is the district, so they see all of it. Staff without any
  area get 403 too: there is nothing of theirs to count.
- A supervisor also sees their unit's orders elsewhere on the order pages, but the figures
  here are by area, so the drill-down lists only orders inside the filter's areas.

`views_screen` (the wall display) uses the same rule through `scope_of` and `may_view`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from yunbao.catalog.models import Category, Scene
from yunbao.community import measures as community_measures
from yunbao.geo.models import Area, Level
from yunbao.insight import indicators
from yunbao.insight.drilldown import Part, orders_behind
from yunbao.insight.indicators import INDICATORS, Filter, Ranked, Report
from yunbao.insight.models import Cell, DurationStage, Score
from yunbao.org.models import Role, Unit
from yunbao.org.roles import areas_of, roles_of
from yunbao.workorders.models import Source, WorkOrder

log = logging.getLogger(__name__)

VIEWER_ROLES = frozenset({Role.MANAGER, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
ORDERS_PER_PAGE = 50
RANKING_ROWS = 20
TREND_BY = ("day", "week", "month")
PRESETS = ("this_month", "last_month", "last_7_days")
# Longest period a page may ask for: a typing mistake in the year must not scan a century.
MAX_DAYS = 3 * 366


# --- Access ---------------------------------------------------------------------------------


def may_view(user: Any) -> bool:
    """Whether `user` may open the operations centre's pages at all."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(getattr(user, "is_superuser", False)) or bool(roles_of(user) & VIEWER_ROLES)


@dataclass(frozen=True)
class Scope:
    """The areas a viewer's figures may cover: `whole` (administrators) or `roots` and what
    lies inside them. `roots` never nest (an area inside another one of theirs is dropped)."""

    whole: bool
    roots: tuple[Area, ...]

    def covers(self, area: Area) -> bool:
        return self.whole or any(area.path.startswith(root.path) for root in self.roots)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(root.path for root in self.roots)


def scope_of(user: Any) -> Scope:
    if getattr(user, "is_superuser", False) or Role.ADMIN in roles_of(user):
        return Scope(True, tuple(Area.objects.filter(level=Level.DISTRICT).order_by("path")))
    areas = sorted(areas_of(user), key=lambda a: a.path)
    roots: list[Area] = []
    for area in areas:
        if not any(area.path.startswith(root.path) for root in roots):
            roots.append(area)
    return Scope(False, tuple(roots))


def forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    log.info("insight page %s refused to %s", request.path, request.user)
    return render(request, "insight/forbidden.html", {"reason": reason}, status=403)


def viewers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in (else the login page), a viewer's role and some area (else 403)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_view(request.user):
            return forbidden(request)
        scope = scope_of(request.user)
        if not scope.whole and not scope.roots:
            return forbidden(
                request, _("No area is assigned to you, so there is nothing to count.")
            )
        return view(request, scope, *args, **kwargs)

    return login_required(wrapper)


# --- Several areas at once ---------------------------------------------------------------------


@dataclass(frozen=True)
class AreasFilter(Filter):
    """A `Filter` over several areas that do not nest (a viewer's own areas): each area is
    read from the coarsest roll-up its own level allows and the rows are summed. Every
    count, duration bucket and ranking group is a sum over rows, so the figures of the
    union are exactly the sums of the parts. Lives here rather than in
    `indicators` because only the pages need it."""

    paths: tuple[str, ...] = ()

    def one(self, path: str) -> Filter:
        return Filter(
            start=self.start,
            end=self.end,
            area_path=path,
            unit=self.unit,
            scene=self.scene,
            category=self.category,
            source=self.source,
        )

    def q(self, grain: int | None = None, *, by: str | None = None, durations: bool = False) -> Q:
        if not self.paths:
            return super().q(grain, by=by, durations=durations)
        condition = Q(pk__in=[])
        for path in self.paths:
            condition |= self.one(path).q(grain, by=by, durations=durations)
        return condition


def parts_of(f: Filter) -> list[Filter]:
    """`f` as single-area filters (for code that reads one area path, like the drill-down)."""
    if isinstance(f, AreasFilter) and f.paths:
        return [f.one(path) for path in f.paths]
    return [f]


def scoped_orders(orders: Any, f: Filter) -> Any:
    """Restrict an order queryset to the filter's areas (all of them for an `AreasFilter`)."""
    paths = f.paths if isinstance(f, AreasFilter) and f.paths else (f.area_path,)
    if not any(paths):
        return orders
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(area_path__startswith=path)
    return orders.filter(condition)


def filter_for_scope(scope: Scope, **kw: Any) -> Filter:
    """The viewer's default: the district for administrators, else all their areas."""
    if scope.whole:
        return Filter(**kw)
    if len(scope.roots) == 1:
        return Filter(area_path=scope.roots[0].path, **kw)
    return AreasFilter(paths=scope.paths, **kw)


# --- Parameters -----------------------------------------------------------------------------


class BadRequest(ValueError):
    """A parameter that cannot be used; its message is shown to the person."""


def today() -> dt.date:
    return timezone.localdate(timezone.now(), timezone.get_default_timezone())


def preset_period(name: str, day: dt.date) -> tuple[dt.date, dt.date]:
    if name == "last_month":
        end = day.replace(day=1) - dt.timedelta(days=1)
        return end.replace(day=1), end
    if name == "last_7_days":
        return day - dt.timedelta(days=6), day
    return day.replace(day=1), day  # this month


def _date(raw: str, name: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(
            _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw[:20]}
        ) from None


def _id(raw: str, model: Any, unknown: str) -> Any:
    """The row of `model` with the id `raw` (None when empty); BadRequest(`unknown`) else."""
    if not raw:
        return None
    if raw.isdigit():
        found = model.objects.filter(pk=int(raw)).first()
        if found is not None:
            return found
    raise BadRequest(unknown)


@dataclass
class Params:
    """The filters of one request, checked, with the indicators' `Filter` they make."""

    start: dt.date
    end: dt.date
    area: Area | None
    unit: Unit | None
    scene: Scene | None
    category: Category | None
    source: str
    by: str
    series: str
    filter: Filter
    raw: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: Any) -> str:
        """The query string of these filters (only those set), with `changes` applied."""
        values = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "area": self.area.code if self.area else "",
            "unit": str(self.unit.pk) if self.unit else "",
            "scene": str(self.scene.pk) if self.scene else "",
            "category": str(self.category.pk) if self.category else "",
            "source": self.source,
        }
        values.update({k: str(v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v})


FILTER_NAMES: tuple[str, ...] = ("start", "end", "preset", "area", "street", "village", "grid")
FILTER_NAMES += ("unit", "scene", "category", "source", "by", "series")


def parse(request: HttpRequest, scope: Scope) -> Params:
    """The filters of `request` (BadRequest for what cannot be used, PermissionDenied-like
    `OutOfScope` for an area outside the viewer's)."""
    raw = {name: request.GET.get(name, "").strip()[:40] for name in FILTER_NAMES}
    day = today()
    if raw["preset"]:
        if raw["preset"] not in PRESETS:
            raise BadRequest(_("Unknown period."))
        start, end = preset_period(raw["preset"], day)
    else:
        default_start, default_end = preset_period("this_month", day)
        start = _date(raw["start"], "start") or default_start
        end = _date(raw["end"], "end") or (default_end if not raw["start"] else max(start, day))
    if end < start:
        raise BadRequest(_("The period ends before it starts."))
    if (end - start).days > MAX_DAYS:
        raise BadRequest(_("Choose a period of at most three years."))
    # The most specific of grid, village, street (or a plain area code, as links carry it).
    code = raw["grid"] or raw["village"] or raw["street"] or raw["area"]
    area = None
    if code:
        area = Area.objects.filter(code=code).first()
        if area is None:
            raise BadRequest(_("Unknown area."))
        if not scope.covers(area):
            raise OutOfScope(area)
    unit = _id(raw["unit"], Unit, _("Unknown unit."))
    scene = _id(raw["scene"], Scene, _("Unknown scene."))
    category = _id(raw["category"], Category, _("Unknown category."))
    source = raw["source"]
    if source and source not in Source.values:
        raise BadRequest(_("Unknown source."))
    by = raw["by"] or "day"
    if by not in TREND_BY:
        raise BadRequest(_("Unknown trend period."))
    series = raw["series"] or "on_time_closing"
    if series not in INDICATORS:
        raise BadRequest(_("Unknown indicator."))
    kw: dict[str, Any] = {
        "start": start,
        "end": end,
        "unit": unit.pk if unit else None,
        "scene": scene.pk if scene else None,
        "category": category.pk if category else None,
        "source": source,
    }
    f = Filter(area_path=area.path, **kw) if area is not None else filter_for_scope(scope, **kw)
    return Params(start, end, area, unit, scene, category, source, by, series, f, raw)


class OutOfScope(Exception):
    def __init__(self, area: Area) -> None:
        super().__init__(area.code)
        self.area = area


# --- The filter form's choices -------------------------------------------------------------


def _inside(scope: Scope, level: str, within: Area | None) -> list[Area]:
    areas = Area.objects.filter(level=level)
    if within is not None:
        areas = areas.filter(path__startswith=within.path)
    if not scope.whole:
        condition = Q(pk__in=[])
        for root in scope.roots:
            # Inside one of theirs, or one of theirs itself.
            condition |= Q(path__startswith=root.path)
        areas = areas.filter(condition)
    return list(areas.order_by("code"))


def area_choices(scope: Scope, area: Area | None) -> dict[str, Any]:
    """Streets, villages and grids the viewer may choose, and which are chosen: villages of
    the chosen street (all of theirs without one), grids of the chosen village only (a
    district has thousands)."""
    chosen: dict[str, Area | None] = {Level.STREET: None, Level.COMMUNITY: None, Level.GRID: None}
    if area is not None:
        for a in area.ancestors():
            if a.level in chosen:
                chosen[a.level] = a
    street, village = chosen[Level.STREET], chosen[Level.COMMUNITY]
    return {
        "streets": _inside(scope, Level.STREET, None),
        "villages": _inside(scope, Level.COMMUNITY, street),
        "grids": _inside(scope, Level.GRID, village) if village is not None else [],
        "street": street,
        "village": village,
        "grid": chosen[Level.GRID],
    }


# --- Presentation -------------------------------------------------------------------------------


def measure_label(name: str) -> str:
    return str(getattr(Cell._meta.get_field(name), "verbose_name", name))


def formula(key: str) -> str:
    """An indicator's formula in words, from its terms: "(filed − filed, then voided) ÷ filed"."""
    ind = INDICATORS[key]
    parts = []
    for i, (sign, measure) in enumerate(ind.numerator):
        label = measure_label(measure)
        parts.append(label if i == 0 and sign > 0 else ("− " if sign < 0 else "+ ") + label)
    top = " ".join(parts)
    if len(ind.numerator) > 1:
        top = f"({top})"
    return f"{top} ÷ {measure_label(ind.denominator)}"


def rate_text(key: str, rate: float | None) -> str:
    if rate is None:
        return "—"
    if INDICATORS[key].mean:
        return f"{rate:.2f}"
    return f"{rate * 100:.1f}%"


def duration_text(seconds: float | None) -> str:
    """A duration as people read it: 45 min, 3.5 h, 2.1 d."""
    if seconds is None:
        return "—"
    minutes = seconds / 60
    if minutes < 90:
        return _("%(n)d min") % {"n": round(minutes)}
    hours = minutes / 60
    if hours < 48:
        return _("%(n).1f h") % {"n": hours}
    return _("%(n).1f d") % {"n": hours / 24}


def drill_link(params: Params, indicator: str, part: str, **changes: Any) -> str:
    query = params.query(indicator=indicator, part=part, **changes)
    return f"{reverse('insight:orders')}?{query}"


def tiles(params: Params, report: Report, **changes: Any) -> list[dict[str, Any]]:
    result = []
    for key, ind in INDICATORS.items():
        r = report.indicators[key]
        bad = (
            r.rate is not None
            and not ind.mean
            and (r.rate > 0.2 if ind.lower_is_better else r.rate < 0.8)
        )
        result.append(
            {
                "key": key,
                "label": ind.label,
                "rate": rate_text(key, r.rate),
                "numerator": r.numerator,
                "denominator": r.denominator,
                "formula": formula(key),
                "definition": ind.definition,
                "num_link": drill_link(params, key, "numerator", **changes),
                "den_link": drill_link(params, key, "denominator", **changes),
                "alarm": bad,
                "lower_is_better": ind.lower_is_better,
            }
        )
    return result


def period_start(day: dt.date, by: str) -> dt.date:
    """The first day of `day`'s period: itself, its ISO week's Monday, its month's 1st (as
    `indicators.trend` groups)."""
    if by == "week":
        return day - dt.timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


def every_period(
    rows: Sequence[tuple[dt.date, Report]], start: dt.date, end: dt.date, by: str
) -> list[tuple[dt.date, Report]]:
    """`rows` with the periods between `start` and `end` that counted nothing filled in as
    empty: `trend` leaves them out, and a chart that skipped them would draw a quiet week
    as if it had not happened."""
    have = dict(rows)
    empty = indicators.build_report({})
    result = []
    day = period_start(start, by)
    while day <= end:
        result.append((day, have.get(day, empty)))
        if by == "month":
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        else:
            day += dt.timedelta(days=7 if by == "week" else 1)
    return result


# The trend chart's drawing box (SVG user units; the SVG scales to its container).
CHART_W, CHART_H = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 44, 40, 12, 28


def trend_chart(rows: Sequence[tuple[dt.date, Report]], series: str, by: str) -> dict[str, Any]:
    """Bars of the reports per period (right axis) and a line of `series` (left axis, 0 to
    100%, or 1 to 5 for the mean rating), ready for the template to draw as SVG."""
    ind = INDICATORS[series]
    top = 5.0 if ind.mean else 1.0
    n = len(rows)
    inner_w, inner_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    step = inner_w / max(n, 1)
    most = max((r.counts.get("reports", 0) for _d, r in rows), default=0) or 1
    bars, points, labels = [], [], []
    every = max(1, n // 12)  # at most about a dozen labels under the axis
    for i, (start, r) in enumerate(rows):
        x = PAD_L + i * step
        reports = r.counts.get("reports", 0)
        h = inner_h * reports / most
        ratio = r.indicators[series]
        label = (
            start.isoformat()
            if by == "day"
            else (start.strftime("%Y-%m") if by == "month" else start.isoformat())
        )
        bars.append(
            {
                "x": round(x + step * 0.15, 1),
                "y": round(PAD_T + inner_h - h, 1),
                "w": round(max(step * 0.7, 1), 1),
                "h": round(h, 1),
                "title": _("%(period)s: %(n)d reports") % {"period": label, "n": reports},
            }
        )
        if ratio.rate is not None:
            y = PAD_T + inner_h * (1 - min(ratio.rate, top) / top)
            points.append(
                {
                    "x": round(x + step / 2, 1),
                    "y": round(y, 1),
                    "title": f"{label}: {rate_text(series, ratio.rate)} "
                    f"({ratio.numerator}/{ratio.denominator})",
                }
            )
        if i % every == 0:
            labels.append(
                {"x": round(x + step / 2, 1), "text": label[5:] if by == "day" else label}
            )
    ticks = [
        {
            "y": round(PAD_T + inner_h * (1 - share), 1),
            "text": f"{top * share:g}" if ind.mean else f"{share * 100:.0f}%",
        }
        for share in (0, 0.5, 1)
    ]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "left": PAD_L,
        "right": CHART_W - PAD_R,
        "bottom": PAD_T + inner_h,
        "label_y": CHART_H - 8,
        "bars": bars,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "ticks": ticks,
        "labels": labels,
        "most": most,
        "empty": not any(
            r.counts.get("reports") or r.indicators[series].denominator for _d, r in rows
        ),
    }


def _ranking_rows(
    params: Params, ranked: list[Ranked], names: dict[Any, str], kind: str
) -> list[dict[str, Any]]:
    keys = ("on_time_handling", "closing_rate", "satisfaction")
    rows = []
    for position, item in enumerate(ranked[:RANKING_ROWS], start=1):
        change: dict[str, Any] = {"unit": item.key} if kind == "unit" else {}
        if kind == "village":
            change["area"] = names.get(f"code:{item.key}", "")
        cells = []
        for key in keys:
            r = item.report.indicators[key]
            cells.append(
                {
                    "rate": rate_text(key, r.rate),
                    "numerator": r.numerator,
                    "denominator": r.denominator,
                    "num_link": drill_link(params, key, "numerator", **change),
                }
            )
        rows.append(
            {
                "position": position,
                "name": names.get(item.key, str(item.key)),
                "score": "—" if item.score is None else f"{item.score:.1f}",
                "reports": item.report.counts.get("reports", 0),
                "reports_link": drill_link(params, "valid_report_rate", "denominator", **change),
                "cells": cells,
            }
        )
    return rows


def _names(ranked_units: list[Ranked], ranked_villages: list[Ranked]) -> dict[Any, str]:
    names: dict[Any, str] = {
        u.pk: str(u) for u in Unit.objects.filter(pk__in=[r.key for r in ranked_units])
    }
    for a in Area.objects.filter(path__in=[r.key for r in ranked_villages]):
        names[a.path] = a.display_name
        names[f"code:{a.path}"] = a.code
    return names


# --- The dashboard ----------------------------------------------------------------------------


def _form_context(scope: Scope, params: Params | None) -> dict[str, Any]:
    area = params.area if params else None
    day = today()
    return {
        **area_choices(scope, area),
        "units": Unit.objects.filter(active=True).order_by("code"),
        "scenes": Scene.objects.order_by("code"),
        "categories": Category.objects.filter(active=True).order_by("code"),
        "sources": Source.choices,
        "presets": [_preset(params, name, label, day) for name, label in preset_labels()],
        "scope": scope,
    }


def preset_labels() -> list[tuple[str, str]]:
    return [
        ("this_month", _("This month")),
        ("last_month", _("Last month")),
        ("last_7_days", _("Last 7 days")),
    ]


def _preset(params: Params | None, name: str, label: str, day: dt.date) -> dict[str, Any]:
    start, end = preset_period(name, day)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    query = params.query(**period) if params else urlencode(period)
    current = params is not None and (params.start, params.end) == (start, end)
    return {"label": label, "link": f"{reverse('insight:dashboard')}?{query}", "current": current}


def _refusal(request: HttpRequest, scope: Scope, exc: Exception, template: str) -> HttpResponse:
    if isinstance(exc, OutOfScope):
        return forbidden(
            request,
            _("%(area)s is not one of your areas.") % {"area": exc.area.display_name},
        )
    log.info("insight page %s: bad request from %s: %s", request.path, request.user, exc)
    return render(request, template, {"error": str(exc), **_form_context(scope, None)}, status=400)


@viewers_only
@require_GET
def dashboard(request: HttpRequest, scope: Scope) -> HttpResponse:
    try:
        params = parse(request, scope)
    except (BadRequest, OutOfScope) as exc:
        return _refusal(request, scope, exc, "insight/dashboard.html")
    figures = indicators.dashboard(params.filter)
    report = figures.report
    by_period = every_period(
        figures.by_day if params.by == "day" else figures.trend(params.by),
        params.start,
        params.end,
        params.by,
    )
    names = _names(figures.units, figures.villages)
    stages = [
        {
            "label": d.label,
            "n": d.n,
            "mean": duration_text(d.mean_seconds),
            "p90": duration_text(d.p90_seconds),
        }
        for stage in DurationStage
        if (d := report.durations.get(stage.value)) is not None
    ]
    volumes = [(measure_label(m), n) for m, n in report.volumes.items()]
    scores = [
        (label, None if (s := report.scores.get(value)) is None else f"{s:.1f}")
        for value, label in Score.choices
        if value in report.scores
    ]
    return render(
        request,
        "insight/dashboard.html",
        {
            "params": params,
            **_form_context(scope, params),
            "tiles": tiles(params, report),
            "stages": stages,
            "volumes": volumes,
            "scores": scores,
            "chart": trend_chart(by_period, params.series, params.by),
            "keep": parse_qsl(params.query()),
            "series_choices": [(k, i.label) for k, i in INDICATORS.items()],
            "trend_links": [
                (by, label, f"?{params.query(by=by, series=params.series)}")
                for by, label in (
                    ("day", _("By day")),
                    ("week", _("By week")),
                    ("month", _("By month")),
                )
            ],
            "units_ranked": _ranking_rows(params, figures.units, names, "unit"),
            "villages_ranked": _ranking_rows(params, figures.villages, names, "village"),
            "screen_url": reverse("insight:screen"),
            # Volunteer activities and who reports (all logic in yunbao.community).
            "community": community_measures.dashboard_panel(params.filter),
        },
    )


# --- The drill-down --------------------------------------------------------------------------


def orders_for(user: Any, indicator: str, f: Filter, part: Part) -> Any:
    """The orders behind one number that `user` may see: `orders_behind` for each of the
    filter's areas, within those areas and `visible_to(user)`."""
    ids: set[int] = set()
    for one in parts_of(f):
        ids.update(orders_behind(indicator, one, part).values_list("pk", flat=True))
    visible = WorkOrder.objects.visible_to(user).filter(pk__in=ids)
    return scoped_orders(visible, f)


@viewers_only
@require_GET
def orders(request: HttpRequest, scope: Scope) -> HttpResponse:
    try:
        params = parse(request, scope)
        indicator = request.GET.get("indicator", "")
        part: Part = "numerator"
        match request.GET.get("part", "numerator"):
            case "numerator":
                part = "numerator"
            case "denominator":
                part = "denominator"
            case _other:
                raise BadRequest(_("Choose the numerator or the denominator."))
        if indicator not in INDICATORS:
            raise BadRequest(_("Unknown indicator."))
    except (BadRequest, OutOfScope) as exc:
        return _refusal(request, scope, exc, "insight/orders.html")
    found = orders_for(request.user, indicator, params.filter, part)
    found = found.select_related("category", "grid", "unit").order_by("-created_at", "-pk")
    page = Paginator(found, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    ind = INDICATORS[indicator]
    measure = ind.denominator if part == "denominator" else None
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "insight/orders.html",
        {
            "params": params,
            "indicator": ind,
            "part": part,
            "part_label": measure_label(measure) if measure else formula(indicator).split(" ÷ ")[0],
            "formula": formula(indicator),
            "page": page,
            "query": query.urlencode(),
            "back": f"{reverse('insight:dashboard')}?{params.query()}",
            "other_part": drill_link(
                params, indicator, "denominator" if part == "numerator" else "numerator"
            ),
            "area_label": params.area.display_name if params.area else "",
        },
    )
