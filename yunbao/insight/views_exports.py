"""Downloads of the operations centre: the orders behind a filter or a figure, and the
indicator tables, as CSV or XLSX (the writing is `exports`).

- `/insight/export/orders.csv|xlsx?<the dashboard's filters>[&indicator=&part=][&contact=1]`:
  with `indicator` (and `part`, numerator by default) exactly the orders the drill-down
  lists for that number (`views.orders_for`); without, the orders reported in the period
  under the filters (the "reports" count of every rate's volume). Either way only orders
  `WorkOrder.objects.visible_to(viewer)` allows, inside the filter's areas, newest first
  like the drill-down. `contact=1` adds the reporter's nickname and phone, for viewers the
  order page shows them to (`shows_contact`, the order page's own rule); asked by anyone
  else it is a 403. Each export is logged with who asked, the filters, and whether contact
  details went with it.
- `/insight/export/indicators.xlsx?<filters>`: the dashboard's figures
  (`indicators.dashboard`, the same call the page makes) as one workbook: indicators with
  numerator, denominator and rate, volumes, stage durations, composite scores, and the unit
  and village rankings (every indicator's parts per row), one sheet each.
  `/insight/export/indicators.csv?table=indicators|volumes|durations|scores|units|villages`:
  one of those tables (a CSV holds one).

Who may: the dashboard's viewers, each for their own areas (`views.viewers_only`, `parse`):
an area outside theirs is a 403 as on the dashboard, a bad parameter a 400 that says which.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from yunbao.insight import exports, indicators
from yunbao.insight.drilldown import Part
from yunbao.insight.indicators import INDICATORS, Filter
from yunbao.insight.views import (
    BadRequest,
    OutOfScope,
    Params,
    Scope,
    forbidden,
    orders_for,
    parse,
    scoped_orders,
    viewers_only,
)
from yunbao.org.roles import roles_of
from yunbao.workorders.models import WorkOrder, WorkOrderQuerySet
from yunbao.workorders.views import STAFF_ROLES

log = logging.getLogger(__name__)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
FORMATS = ("csv", "xlsx")


def shows_contact(user: Any) -> bool:
    """Whether the order page shows `user` a reporter's nickname and phone (its rule)."""
    return bool(roles_of(user) & STAFF_ROLES)


def reported_in(user: Any, f: Filter) -> WorkOrderQuerySet:
    """Orders reported within `f`'s period (local days) that match its unit, scene, category,
    source and areas and that `user` may see: what the "reports" count of `f` counts."""
    orders = WorkOrder.objects.visible_to(user)
    tz = timezone.get_default_timezone()
    if f.start is not None:
        orders = orders.filter(created_at__gte=dt.datetime.combine(f.start, dt.time.min, tz))
    if f.end is not None:
        end = f.end + dt.timedelta(days=1)
        orders = orders.filter(created_at__lt=dt.datetime.combine(end, dt.time.min, tz))
    for name in ("unit", "scene", "category"):
        value = getattr(f, name)
        if value is not None:
            orders = orders.filter(
                **({f"{name}_id__isnull": True} if value == 0 else {f"{name}_id": value})
            )
    if f.source:
        orders = orders.filter(source=f.source)
    return scoped_orders(orders, f)


def _part(raw: str) -> Part:
    match raw or "numerator":
        case "numerator":
            return "numerator"
        case "denominator":
            return "denominator"
    raise BadRequest(_("Choose the numerator or the denominator."))


def _bad(request: HttpRequest, exc: Exception) -> HttpResponse:
    if isinstance(exc, OutOfScope):
        return forbidden(
            request, _("%(area)s is not one of your areas.") % {"area": exc.area.display_name}
        )
    log.info("insight export %s: bad request from %s: %s", request.path, request.user, exc)
    return render(
        request,
        "insight/report_error.html",
        {"error": str(exc), "back": reverse("insight:dashboard")},
        status=400,
    )


def _filename(kind: str, params: Params, fmt: str, extra: str = "") -> str:
    parts = [kind, params.start.isoformat(), params.end.isoformat()]
    if extra:
        parts.append(extra)
    return "-".join(parts) + f".{fmt}"


def _csv_response(table: exports.Table, filename: str) -> HttpResponse:
    response = StreamingHttpResponse(exports.csv_chunks(table), content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    # `viewers_only` is typed for HttpResponse; Django serves any HttpResponseBase.
    return cast(HttpResponse, response)


def _xlsx_response(tables: list[exports.Table], filename: str) -> HttpResponse:
    try:
        workbook = exports.xlsx_file(tables)
    except exports.TooManyRows:
        return HttpResponse(
            _("More rows than a spreadsheet holds: narrow the filters or download CSV."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    response = FileResponse(workbook, as_attachment=True, filename=filename, content_type=XLSX_TYPE)
    response["X-Content-Type-Options"] = "nosniff"
    return cast(HttpResponse, response)  # as in _csv_response


@viewers_only
@require_GET
def orders_export(request: HttpRequest, scope: Scope, fmt: str) -> HttpResponse:
    try:
        if fmt not in FORMATS:
            raise BadRequest(_("Choose CSV or XLSX."))
        params = parse(request, scope)
        indicator = request.GET.get("indicator", "")
        part = _part(request.GET.get("part", ""))
        if indicator and indicator not in INDICATORS:
            raise BadRequest(_("Unknown indicator."))
        contact = request.GET.get("contact", "") == "1"
    except (BadRequest, OutOfScope) as exc:
        return _bad(request, exc)
    if contact and not shows_contact(request.user):
        return forbidden(request, _("You may not see reporters' contact details."))
    if indicator:
        found = orders_for(request.user, indicator, params.filter, part)
    else:
        found = reported_in(request.user, params.filter)
    found = found.order_by("-created_at", "-pk")
    log.info(
        "insight export of orders (%s, %s) by %s, %s",
        fmt,
        params.query(indicator=indicator, part=part if indicator else ""),
        request.user,
        "with reporters' contact" if contact else "without contact",
    )
    extra = f"{indicator}-{part}" if indicator else ""
    table = exports.orders_table(found, contact=contact)
    filename = _filename("orders", params, fmt, extra)
    if fmt == "csv":
        return _csv_response(table, filename)
    return _xlsx_response([table], filename)


@viewers_only
@require_GET
def indicators_export(request: HttpRequest, scope: Scope, fmt: str) -> HttpResponse:
    try:
        if fmt not in FORMATS:
            raise BadRequest(_("Choose CSV or XLSX."))
        params = parse(request, scope)
        name = request.GET.get("table", "") or "indicators"
        if fmt == "csv" and name not in exports.TABLES:
            raise BadRequest(_("Unknown table."))
    except (BadRequest, OutOfScope) as exc:
        return _bad(request, exc)
    weights = indicators.weights()
    figures = indicators.dashboard(params.filter)
    tables = exports.indicator_tables(figures, weights)
    log.info("insight export of indicators (%s, %s) by %s", fmt, params.query(), request.user)
    if fmt == "csv":
        return _csv_response(tables[name], _filename(f"indicators-{name}", params, fmt))
    return _xlsx_response(list(tables.values()), _filename("indicators", params, fmt))
