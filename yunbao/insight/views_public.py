"""The public page: recent reports and fixes on a map and each area's figures, for anyone.

- `/public/?period=this_month|last_30_days|last_90_days&area=<street or village code>`:
  the headline figures (reports, closed, response timeliness, on-time closing,
  satisfaction), a map of the period's reports and fixes, the streets' (or a street's
  villages') figures and the latest fixes.
- `/public/map.json?period=&area=`: the map's cells, polled by `public.js`; public and the
  same for everyone, so it may be cached anywhere for a minute (`Cache-Control: public`),
  with an ETag so an unchanged map is a 304.

Who may use it: everyone, logged in or not; nothing on it depends on who asks. What may be
published is decided in `yunbao.insight.public` (coarsened places, no personal data, no
photos). The data are cached for a minute and each address may ask `API_ANON_RATE_LIMIT`
times a minute (the REST API's counters, `yunbao.api.throttle`, under their own names), so
the page cannot be used to load the database. A bad parameter is a 400 that says what is
wrong, on the page or as `{"error": …}` in the JSON.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

# The REST API's fixed-window counters: a plain function over the rate cache, no API models.
from yunbao.api.throttle import client_ip, hit
from yunbao.geo.models import Area, Level
from yunbao.insight import public

log = logging.getLogger(__name__)

RECENT_FIXES = 8


def _limited(request: HttpRequest) -> int | None:
    """Seconds to wait when this address asked too often this minute, else None."""
    return hit(f"public:{client_ip(request)}", settings.YUNBAO_API_ANON_RATE_LIMIT)


def _too_many(wait: int, *, as_json: bool) -> HttpResponse:
    message = _("Too many requests. Please try again in a minute.")
    response: HttpResponse
    if as_json:
        response = JsonResponse({"error": message}, status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(wait)
    return response


def _params(request: HttpRequest) -> tuple[str, Area | None]:
    return (
        public.parse_period(request.GET.get("period", "")[:40]),
        public.parse_area(request.GET.get("area", "")[:40]),
    )


def strings() -> dict[str, str]:
    """Every text public.js shows, translated here."""
    return {
        "new": pgettext("public state", "Reported"),
        "working": pgettext("public state", "Being handled"),
        "fixed": pgettext("public state", "Fixed"),
        "reported": _("reported {day}"),
        "fixedOn": _("fixed {day}"),
        "other": _("Other problem"),
        "more": _("and {n} more"),
        "cell": _("{n} reports in this block"),
        "updated": _("Updated {time}"),
        "offline": _("Connection lost; trying again…"),
        "mapUnavailable": _("The map could not be loaded."),
        "empty": _("No reports in this period."),
        "truncated": _("The lists show the latest {n} reports; the counts are complete."),
    }


def _query(period: str, area: Area | None) -> str:
    values = {"period": period, "area": area.code if area is not None else ""}
    return urlencode({k: v for k, v in values.items() if v})


def _links(period: str, area: Area | None) -> list[dict[str, Any]]:
    base = reverse("public:page")
    return [
        {
            "label": label,
            "link": f"{base}?{_query(name, area)}",
            "current": name == period,
        }
        for name, label in public.PERIODS.items()
    ]


def _trail(area: Area | None, period: str) -> list[dict[str, str]]:
    """District › street › village, each a link to its own view."""
    if area is None:
        return []
    base = reverse("public:page")
    return [
        {"name": a.display_name, "link": f"{base}?{urlencode({'period': period, 'area': a.code})}"}
        for a in area.ancestors()
        if a.level != Level.GRID
    ]


def _recent_fixes(body: dict[str, Any]) -> list[dict[str, str]]:
    names = body["categories"]
    fixes = [
        (item[3], item[2], item[0])
        for cell in body["cells"]
        for item in cell["items"]
        if item[1] == "fixed" and item[3]
    ]
    english = (get_language() or "").startswith("en")
    result = []
    for fixed, reported, category in sorted(fixes, reverse=True)[:RECENT_FIXES]:
        pair = names.get(str(category))
        result.append(
            {
                "category": (pair[1] if english else pair[0]) if pair else _("Other problem"),
                "reported": reported,
                "fixed": fixed,
            }
        )
    return result


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    wait = _limited(request)
    if wait is not None:
        return _too_many(wait, as_json=False)
    try:
        period, area = _params(request)
    except public.BadParameter as exc:
        log.info("public page: bad parameters %s: %s", request.GET.urlencode()[:200], exc)
        return render(
            request,
            "insight/public.html",
            # The periods to choose from, none of them marked as the one asked for.
            {"error": str(exc), "periods": _links("", None)},
            status=400,
        )
    figures = public.cached_figures(period, area, get_language() or "")
    body = public.cached_map(period, area)
    base = reverse("public:page")
    rate_labels = [public.RATE_LABELS[k] for k in public.AREA_RATES]
    rows = [
        {
            "figures": row,
            "cells": list(zip(row.rate_list, rate_labels, strict=True)),
            "link": (
                f"{base}?{urlencode({'period': period, 'area': row.code})}"
                if row.level == Level.STREET and row is not figures.whole
                else ""
            ),
        }
        for row in figures.rows
    ]
    response = render(
        request,
        "insight/public.html",
        {
            "period": period,
            "period_label": public.PERIODS[period],
            "start": body["start"],
            "end": body["end"],
            "area": area,
            "trail": _trail(area, period),
            "periods": _links(period, area),
            "whole": figures.whole,
            "rows": rows,
            "child_level": (
                _("Village") if area is not None and area.level == Level.STREET else _("Street")
            ),
            "rate_labels": rate_labels,
            "headline": [
                ("reports", _("Reports received"), str(figures.whole.reports), ""),
                ("closed", _("Fixed and closed"), str(figures.whole.closed), ""),
            ]
            + [
                (
                    r.key,
                    public.RATE_LABELS[r.key],
                    r.text,
                    f"{r.numerator}/{r.denominator}" if r.denominator else "",
                )
                for r in figures.whole.rate_list
            ],
            "recent": _recent_fixes(body),
            "initial": body,
            "areas": public.map_areas(area),
            "strings": strings(),
            "json_url": f"{reverse('public:map')}?{_query(period, area)}",
            "poll_seconds": public.POLL_SECONDS,
            "tile_url": settings.YUNBAO_MAP_TILE_URL,
            "cell_metres": public.CELL_ACROSS_METRES,
        },
    )
    # The same for everyone but for the language switch's CSRF token: a browser may keep
    # it a minute, shared caches may not.
    response["Cache-Control"] = f"private, max-age={public.CACHE_SECONDS}"
    return response


def _etag_matches(header: str, version: str) -> bool:
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return version in tags or "*" in tags


@require_GET
def map_json(request: HttpRequest) -> HttpResponse:
    wait = _limited(request)
    if wait is not None:
        return _too_many(wait, as_json=True)
    try:
        period, area = _params(request)
    except public.BadParameter as exc:
        log.info("public map: bad parameters %s: %s", request.GET.urlencode()[:200], exc)
        return JsonResponse({"error": str(exc)}, status=400)
    body = public.cached_map(period, area)
    response: HttpResponse
    if _etag_matches(request.headers.get("If-None-Match", ""), body["version"]):
        response = HttpResponse(status=304)
    else:
        response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    response["ETag"] = f'"{body["version"]}"'
    # Public data, the same for everyone and in every language (names come in both):
    # any cache may keep it for as long as the server does.
    response["Cache-Control"] = f"public, max-age={public.CACHE_SECONDS}"
    return response


# Mounted at /public/ by yunbao/urls.py (`include("yunbao.insight.views_public")`).
app_name = "public"
urlpatterns: list[URLPattern] = [
    path("", page, name="page"),
    path("map.json", map_json, name="map"),
]
