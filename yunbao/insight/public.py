"""What the public page (`/public/`, no login) may show, computed in one place.

The page exists so residents see that reporting works: recent reports and fixes on a map and
each street's and village's figures. It is read by anyone, so everything here is decided by
what may be published, never by who asks:

- **Where**: an order is published at the centre of its H3 cell at `PUBLIC_H3_RESOLUTION`
  (resolution 9: cells of about 0.1 km², about 200 m from the centre to a corner), never
  at its own point. All reports of one cell share one marker, so the map says "something
  was reported in this block of streets", and a reporter who reports from their doorstep
  cannot be found at their door. The cell is worked out here from the stored point; the
  stored `h3_cell` is at the (finer) intake resolution and is not published either.
- **What**: the category, a public state (new / being handled / fixed) and the local day it
  was reported and fixed. Nothing else of the order: no number (Open311's public reading
  would join a number to the exact point and the text), no time of day, no description or
  address (free text can hold names, phone numbers and door numbers), no reporter (name,
  phone, account, device), no unit or staff, no notes.
- **No photos.** Intake strips EXIF from every stored photo, but what a photo shows cannot
  be checked by a machine here: a before-photo is often taken from the reporter's window or
  shows a face or a plate, and even an after-photo of the spot shows the exact place,
  undoing the coarsening above. The public page therefore shows no photo at all.
- **Which orders**: reports made in the period and fixes made in it, in the statuses that
  are reports of a real problem: not `rejected` (not a case, often spam or outside the
  remit) nor `voided` (withdrawn), nor `merged` (its original stands for it, so one problem
  is one marker), and never of a category the catalogue marks sensitive
  (`SENSITIVE_FIELD`, when the catalogue has such a field; today it has none).
- **Figures**: the indicators engine's aggregates (`indicators.village_ranking` for the
  villages, their sums for the streets and the whole), so every rate here equals what the
  dashboard shows for the same area and period. They count every order, as the standard's
  rates do; they are counts and rates of an area, never of a person.

Everything is cached for `CACHE_SECONDS` (`cached`), so however many people open the page
or poll its map, the database is asked at most once a minute per period and area.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import h3
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Category
from yunbao.geo.models import Area, Level
from yunbao.insight import indicators
from yunbao.insight.indicators import INDICATORS, Filter
from yunbao.workorders.models import Status, TimelineEntry, WorkOrder

log = logging.getLogger(__name__)

# About 200 m from a cell's centre to its corners (H3's average edge at resolution 9).
PUBLIC_H3_RESOLUTION = 9
# What the page tells visitors a block measures, corner to corner (about 400 m).
CELL_ACROSS_METRES = int(
    round(2 * h3.average_hexagon_edge_length(PUBLIC_H3_RESOLUTION, unit="m"), -1)
)
# Coordinates are published to 5 decimals (about a metre): finer digits of a cell centre
# carry nothing, and fewer bytes poll faster on a phone.
DECIMALS = 5
CACHE_SECONDS = 60
POLL_SECONDS = 60
# Bounds on one answer, so a busy district still polls cheaply: the items of the most recent
# orders, at most so many per cell (the cells' counts are always complete).
MAX_ORDERS = 2000
ITEMS_PER_CELL = 12
# A boolean field of `Category` that, when the catalogue has it, hides a category's orders.
SENSITIVE_FIELD = "sensitive"

# The statuses whose orders appear on the map (see the module's docstring for the others).
PUBLISHED_STATUSES = (
    Status.SUBMITTED,
    Status.ACCEPTED,
    Status.DISPATCHED,
    Status.IN_PROGRESS,
    Status.HANDLED,
    Status.SUSPENDED,
    Status.CLOSED,
)
# The public state of each published status: residents need "seen, being handled, fixed",
# not the case flow's steps.
STATE_OF: dict[str, str] = {
    Status.SUBMITTED: "new",
    Status.ACCEPTED: "working",
    Status.DISPATCHED: "working",
    Status.IN_PROGRESS: "working",
    Status.HANDLED: "working",
    Status.SUSPENDED: "working",
    Status.CLOSED: "fixed",
}
STATES = ("new", "working", "fixed")

PERIODS: dict[str, Any] = {
    "this_month": _("This month"),
    "last_30_days": _("Last 30 days"),
    "last_90_days": _("Last 90 days"),
}
DEFAULT_PERIOD = "last_30_days"

# The figures shown per area and in the headline, in this order.
AREA_RATES = ("closing_rate", "on_time_closing", "response_timeliness", "satisfaction")
# Their names for residents: short, and without the standard's Chinese term that the
# dashboard's labels carry in English too.
RATE_LABELS: dict[str, Any] = {
    "closing_rate": _("Closing rate"),
    "on_time_closing": _("Closed on time"),
    "response_timeliness": _("Response on time"),
    "satisfaction": _("Satisfaction"),
}
# Area codes are short slugs; anything else is refused before a query is made.
AREA_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class BadParameter(ValueError):
    """A query parameter the page cannot use; its message is shown to the visitor."""


# --- Parameters -------------------------------------------------------------------------------


def today() -> dt.date:
    return timezone.localdate(timezone.now(), timezone.get_default_timezone())


def period_range(name: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The local days (both included) of a period ending `day`."""
    if name == "this_month":
        return day.replace(day=1), day
    if name == "last_30_days":
        return day - dt.timedelta(days=29), day
    if name == "last_90_days":
        return day - dt.timedelta(days=89), day
    raise BadParameter(str(_("Unknown period.")))


def parse_period(raw: str | None) -> str:
    value = (raw or "").strip() or DEFAULT_PERIOD
    if value not in PERIODS:
        raise BadParameter(str(_("Unknown period.")))
    return value


def parse_area(raw: str | None) -> Area | None:
    """The district, street or village of an area code (None: the whole district)."""
    value = (raw or "").strip()
    if not value:
        return None
    if not AREA_CODE.match(value):
        raise BadParameter(str(_("Unknown area.")))
    area = Area.objects.filter(code=value).first()
    if area is None:
        raise BadParameter(str(_("Unknown area.")))
    if area.level == Level.GRID:
        # A grid is a block or two: its figures would be about a handful of households.
        raise BadParameter(str(_("Choose a street or a village.")))
    return area


# --- Caching --------------------------------------------------------------------------------

T = TypeVar("T")


def cached(key: str, compute: Callable[[], T]) -> T:
    """`compute()` once per `CACHE_SECONDS` for `key` (in the default cache)."""
    full = f"insight-public:{key}"
    found = cache.get(full)
    if found is None:
        found = compute()
        cache.set(full, found, CACHE_SECONDS)
    return found


# --- The map ------------------------------------------------------------------------------------


def public_cell(stored: str, lat: float, lon: float) -> str | None:
    """The published cell of an order: the resolution-9 parent of its stored cell (the
    stored one is finer at the default `H3_RESOLUTION` of 10), else the cell of its point
    (no stored cell, or a coarser one); None when h3 refuses both."""
    try:
        if stored and h3.get_resolution(stored) >= PUBLIC_H3_RESOLUTION:
            return str(h3.cell_to_parent(stored, PUBLIC_H3_RESOLUTION))
        return str(h3.latlng_to_cell(lat, lon, PUBLIC_H3_RESOLUTION))
    except (ValueError, h3.H3BaseException):
        return None


def cell_centre(cell: str) -> tuple[float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    return round(lat, DECIMALS), round(lon, DECIMALS)


def hidden_category_ids() -> list[int]:
    """Categories whose orders never appear: those the catalogue marks sensitive, when it has
    such a field (today's catalogue has none, so nothing is hidden)."""
    names = {f.name for f in Category._meta.get_fields()}
    if SENSITIVE_FIELD not in names:
        return []
    return list(Category.objects.filter(**{SENSITIVE_FIELD: True}).values_list("pk", flat=True))


def _local_day(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return timezone.localtime(moment, timezone.get_default_timezone()).date().isoformat()


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


def published_orders(start: dt.date, area: Area | None) -> tuple[Any, Any]:
    """The orders the map may show, as two disjoint querysets that each read an index:
    those reported since `start` (`created_at`), and those reported before but fixed since
    (found through their closing `verify` rows, on the timeline's (action, at) index:
    `closed_at` has none, and scanning every closed order for it cost seconds at a few
    hundred thousand orders). Published statuses only, no sensitive category, inside
    `area`."""
    since = _start_of(start)
    orders = WorkOrder.objects.filter(status__in=PUBLISHED_STATUSES)
    if area is not None:
        orders = orders.filter(area_path__startswith=area.path)
    hidden = hidden_category_ids()
    if hidden:
        orders = orders.exclude(category_id__in=hidden)
    closings = TimelineEntry.objects.filter(action="verify", at__gte=since).values("order_id")
    reported = orders.filter(created_at__gte=since)
    fixed_since = orders.filter(
        status=Status.CLOSED, closed_at__gte=since, created_at__lt=since, pk__in=closings
    )
    return reported, fixed_since


def _new_cell(cell: str) -> dict[str, Any]:
    lat, lon = cell_centre(cell)
    return {
        "cell": cell,
        "lat": lat,
        "lon": lon,
        "outline": [[round(a, DECIMALS), round(b, DECIMALS)] for a, b in h3.cell_to_boundary(cell)],
        "n": dict.fromkeys(STATES, 0),
        "items": [],
    }


def map_payload(period: str, area: Area | None) -> dict[str, Any]:
    """The map's cells: centre, outline, complete counts by public state, and the latest
    `ITEMS_PER_CELL` items of the latest `MAX_ORDERS` orders."""
    start, end = period_range(period, today())
    reported, fixed_since = published_orders(start, area)
    cells: dict[str, dict[str, Any]] = {}
    block_of: dict[str, str | None] = {}  # stored cell → published cell, worked out once

    def cell_for(stored: str, lat: float, lon: float) -> dict[str, Any] | None:
        if stored:
            if stored not in block_of:
                block_of[stored] = public_cell(stored, lat, lon)
            cell = block_of[stored]
        else:
            cell = public_cell("", lat, lon)
        if cell is None:
            return None
        if cell not in cells:
            cells[cell] = _new_cell(cell)
        return cells[cell]

    # Reported in the period: counted in the database by stored cell and status, so the
    # counts are complete whatever the volume (orders without a stored cell, none from
    # intake, one by one).
    grouped = (
        reported.order_by()
        .values_list("h3_cell", "status")
        .annotate(n=Count("pk"))
        .values_list("h3_cell", "status", "n")
    )
    unplaced = False
    for stored, status, n in grouped:
        if not stored:
            unplaced = True  # placed below from their points
            continue
        entry = cell_for(stored, 0.0, 0.0)
        if entry is not None:
            entry["n"][STATE_OF[status]] += n
    if unplaced:
        for lat, lon, status in reported.filter(h3_cell="").values_list("lat", "lon", "status"):
            entry = cell_for("", lat, lon)
            if entry is not None:
                entry["n"][STATE_OF[status]] += 1

    # Only these columns are read: nothing personal is ever loaded into this process.
    columns = ("h3_cell", "lat", "lon", "category_id", "status", "created_at", "closed_at")
    # Reported earlier, fixed in the period: few (most orders close within days), read
    # whole in one query and counted here; their subquery is the costly part, so it runs once.
    older = list(fixed_since.order_by("-created_at", "-pk").values_list(*columns))
    for stored, lat, lon, *_rest in older:
        entry = cell_for(stored, lat, lon)
        if entry is not None:
            entry["n"]["fixed"] += 1
    # The lists: the latest orders of both.
    latest = reported.order_by("-created_at", "-pk").values_list(*columns)[: MAX_ORDERS + 1]
    rows = sorted([*latest, *older[: MAX_ORDERS + 1]], key=lambda r: r[5], reverse=True)
    truncated = len(rows) > MAX_ORDERS
    category_ids: set[int] = set()
    for stored, lat, lon, category_id, status, created_at, closed_at in rows[:MAX_ORDERS]:
        entry = cell_for(stored, lat, lon)
        if entry is None or len(entry["items"]) >= ITEMS_PER_CELL:
            continue
        state = STATE_OF[status]
        fixed = _local_day(closed_at) if state == "fixed" else None
        entry["items"].append([category_id or 0, state, _local_day(created_at), fixed])
        if category_id:
            category_ids.add(category_id)
    categories = {
        str(pk): [name, name_en or name]
        for pk, name, name_en in Category.objects.filter(pk__in=category_ids).values_list(
            "pk", "name", "name_en"
        )
    }
    body: dict[str, Any] = {
        "period": period,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "area": area.code if area is not None else "",
        "cells": sorted(cells.values(), key=lambda c: c["cell"]),
        "categories": categories,
        "total": sum(sum(c["n"].values()) for c in cells.values()),
        # The lists (not the counts) leave out orders older than the latest MAX_ORDERS.
        "truncated": truncated,
        "listed": min(len(rows), MAX_ORDERS),
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    body["version"] = hashlib.sha256(text.encode()).hexdigest()[:20]
    return body


def cached_map(period: str, area: Area | None) -> dict[str, Any]:
    code = area.code if area is not None else ""
    return cached(f"map:{period}:{code}", lambda: map_payload(period, area))


# --- Figures per area -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    key: str
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def text(self) -> str:
        r = self.rate
        return "—" if r is None else f"{r * 100:.1f}%"


@dataclass(frozen=True)
class AreaFigures:
    """One area's (or the whole's) published figures for a period."""

    code: str
    name: str
    level: str
    reports: int
    closed: int
    rates: dict[str, Rate]

    @property
    def rate_list(self) -> list[Rate]:
        return [self.rates[k] for k in AREA_RATES]


def figures_of(
    counts: dict[str, int], *, code: str = "", name: str = "", level: str = ""
) -> AreaFigures:
    rates = {k: Rate(k, INDICATORS[k].num(counts), INDICATORS[k].den(counts)) for k in AREA_RATES}
    return AreaFigures(code, name, level, counts.get("reports", 0), counts.get("closed", 0), rates)


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for m, n in counts.items():
        into[m] = into.get(m, 0) + n


@dataclass(frozen=True)
class Figures:
    """The headline (the whole chosen area) and one row per child area (streets of a
    district, villages of a street)."""

    whole: AreaFigures
    rows: list[AreaFigures]


def figures_payload(period: str, area: Area | None) -> Figures:
    """Reads the villages' aggregates once and sums them per street and for the whole."""
    start, end = period_range(period, today())
    f = Filter(start=start, end=end, area_path=area.path if area is not None else "")
    by_village: dict[str, dict[str, int]] = {
        str(r.key): dict(r.report.counts) for r in indicators.village_ranking(f)
    }
    total: dict[str, int] = {}
    for counts in by_village.values():
        _add(total, counts)
    if area is None:
        children = Area.objects.filter(level=Level.STREET)
    elif area.level == Level.DISTRICT:
        children = Area.objects.filter(level=Level.STREET, parent=area)
    elif area.level == Level.STREET:
        children = Area.objects.filter(level=Level.COMMUNITY, parent=area)
    else:
        children = Area.objects.none()
    rows: list[AreaFigures] = []
    for child in children.order_by("code"):
        of_child: dict[str, int] = {}
        for path, village_counts in by_village.items():
            if path.startswith(child.path):
                _add(of_child, village_counts)
        rows.append(
            figures_of(of_child, code=child.code, name=child.display_name, level=child.level)
        )
    whole = figures_of(
        total,
        code=area.code if area is not None else "",
        name=area.display_name if area is not None else "",
        level=area.level if area is not None else "",
    )
    # A village has no smaller public area: its one row is itself.
    return Figures(whole, rows or ([whole] if area is not None else []))


def cached_figures(period: str, area: Area | None, language: str) -> Figures:
    # The language is in the key because the rows carry the areas' display names.
    code = area.code if area is not None else ""
    return cached(f"figures:{period}:{code}:{language}", lambda: figures_payload(period, area))


def map_areas(area: Area | None) -> dict[str, Any]:
    """Outlines for the map: the chosen area (or every district) and its child areas."""
    if area is None:
        roots = list(Area.objects.filter(level=Level.DISTRICT).order_by("code"))
    else:
        roots = [area]
    shown = list(roots)
    for root in roots:
        if root.level in (Level.DISTRICT, Level.STREET):
            shown += list(root.children.exclude(level=Level.GRID).order_by("code"))
    return {"type": "FeatureCollection", "features": [a.geojson_feature() for a in shown]}
