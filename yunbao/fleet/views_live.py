"""The fleet's pages: the live map, the device list and a device's track of a day.

- `/fleet/live/` — for `devices.may_watch` people (managers, dispatchers, supervisors, unit
  leaders, administrators): a map of the latest positions of the staff badges and vehicles
  they may see, polled from `/fleet/live.json` every `POLL_SECONDS`; filters for staff,
  vehicles, recent ones and unit; stale ones greyed; a click leads to the track.
- `/fleet/live.json` — the same people: the rows the map draws (`devices.live_rows`) with a
  version; an unchanged answer is a 304.
- `/fleet/devices/` — `devices.may_track` people (the above, and field workers for their own
  badges): the devices with their last fix, filterable, each linking to its track.
- `/fleet/devices/<id>/track/?day=YYYY-MM-DD` — the same: the day's path over the area
  outline, playback with a slider (time, speed, distance so far), the day's distance and
  stops, day navigation.

Which devices each person sees is `devices.visible_devices`; one they may not see is a 404
(so an id reveals nothing), a page their role has no use for a 403, an anonymous visitor
goes to the login page. Everything is read-only (GET).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from yunbao.fleet import tracks
from yunbao.fleet.devices import (
    device_label,
    is_admin,
    live_rows,
    may_track,
    may_watch,
    position_max_age,
    staff_name,
    visible_devices,
)
from yunbao.fleet.models import Device, DeviceKind
from yunbao.geo.models import Area, Level
from yunbao.org.models import Unit
from yunbao.org.roles import areas_of

log = logging.getLogger(__name__)

POLL_SECONDS = 10
DEVICES_PER_PAGE = 100
# Days before this are not a track anyone kept; later than tomorrow is a typing mistake.
FIRST_DAY = dt.date(2000, 1, 1)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _allowed(check: Callable[[Any], bool]) -> Callable[..., Any]:
    """Logged in (else the login page) and passing `check` (else 403)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                log.info("fleet page %s refused to %s", request.path, request.user)
                return render(request, "fleet/forbidden.html", status=403)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


watchers_only = _allowed(may_watch)
trackers_only = _allowed(may_track)


def _area_shapes(areas: list[Area]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [a.geojson_feature() for a in areas]}


def _user_areas(user: User) -> list[Area]:
    """The outlines under the live map: the person's areas (the districts for admins)."""
    if is_admin(user):
        return list(Area.objects.filter(level=Level.DISTRICT))
    return list(areas_of(user))


def _map_config() -> dict[str, Any]:
    return {
        "stale_after": int(position_max_age().total_seconds()),
        "tile_url": settings.YUNBAO_MAP_TILE_URL,
        "time_zone": settings.TIME_ZONE,
    }


# --- Live map ------------------------------------------------------------------------------


def _live_payload(user: User, kind: str = "") -> dict[str, Any]:
    devices = visible_devices(user)
    if kind:
        devices = devices.filter(kind=kind)
    rows = live_rows(devices)
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    version = hashlib.sha256(text.encode()).hexdigest()[:20]
    return {"devices": rows, "version": version, "now": timezone.now().isoformat()}


@watchers_only
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    payload = _live_payload(user)
    units = sorted({row["unit"] for row in payload["devices"] if row["unit"]})
    return render(
        request,
        "fleet/live.html",
        {
            "initial": payload,
            "units": units,
            "area_shapes": _area_shapes(_user_areas(user)),
            "poll_seconds": POLL_SECONDS,
            **_map_config(),
        },
    )


def _etag_matches(header: str, version: str) -> bool:
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return version in tags or "*" in tags


@watchers_only
@require_GET
def live_json(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if kind and kind not in DeviceKind.values:
        log.info("live.json: bad kind %r from %s", kind, request.user)
        return JsonResponse(
            {"error": _("Unknown kind “%(kind)s”.") % {"kind": kind[:40]}}, status=400
        )
    payload = _live_payload(_user(request), kind)
    response: HttpResponse
    if _etag_matches(request.headers.get("If-None-Match", ""), payload["version"]):
        response = HttpResponse(status=304)
    else:
        response = JsonResponse(payload, json_dumps_params={"ensure_ascii": False})
    response["ETag"] = f'"{payload["version"]}"'
    # Personal and changing every few seconds: never from a cache without asking.
    response["Cache-Control"] = "private, no-cache"
    return response


# --- Device list ---------------------------------------------------------------------------


def _filtered(request: HttpRequest, devices: QuerySet[Device]) -> tuple[QuerySet[Device], dict]:
    """The list's filters from the query string; unknown values are ignored (and said)."""
    raw = {name: request.GET.get(name, "").strip() for name in ("kind", "unit", "q")}
    problems = []
    if raw["kind"]:
        if raw["kind"] in DeviceKind.values:
            devices = devices.filter(kind=raw["kind"])
        else:
            problems.append(_("Unknown kind “%(kind)s”.") % {"kind": raw["kind"][:40]})
    if raw["unit"]:
        if raw["unit"].isdigit():
            unit = int(raw["unit"])
            devices = devices.filter(Q(unit_id=unit) | Q(staff__profile__unit_id=unit))
        else:
            problems.append(_("Unknown unit."))
    if raw["q"]:
        words = raw["q"][:100]
        devices = devices.filter(
            Q(name__icontains=words)
            | Q(plate__icontains=words)
            | Q(identifier__icontains=words)
            | Q(staff__username__icontains=words)
            | Q(staff__profile__display_name__icontains=words)
        )
    if problems:
        log.info("device list: bad filters %r from %s", raw, request.user)
    return devices, {"raw": raw, "problems": problems}


@trackers_only
@require_GET
def device_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    visible = visible_devices(user)
    devices, filters = _filtered(request, visible)
    devices = devices.select_related("unit", "staff__profile", "latest").order_by(
        "kind", "name", "plate", "identifier", "pk"
    )
    page = Paginator(devices, DEVICES_PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    fresh_since = timezone.now() - position_max_age()
    for device in page.object_list:
        latest = getattr(device, "latest", None)
        rows.append(
            {
                "device": device,
                "label": device_label(device),
                "staff": staff_name(device.staff) if device.staff_id else "",
                "seen": latest.fixed_at if latest is not None else None,
                "stale": latest is not None and latest.fixed_at < fresh_since,
            }
        )
    units = Unit.objects.filter(
        Q(pk__in=visible.values("unit_id")) | Q(pk__in=visible.values("staff__profile__unit_id"))
    ).order_by("code")
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "fleet/devices.html",
        {
            "page": page,
            "rows": rows,
            "units": units,
            "kinds": DeviceKind.choices,
            "query": query.urlencode(),
            "watch": may_watch(user),
            **filters,
            **_map_config(),
        },
        status=400 if filters["problems"] else 200,
    )


# --- Track ---------------------------------------------------------------------------------


class BadDay(ValueError):
    pass


def parse_day(raw: str | None, today: dt.date) -> dt.date:
    """`?day=YYYY-MM-DD`, today when absent; BadDay for anything else or out of range."""
    if not raw:
        return today
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise BadDay(_("“%(day)s” is not a day (YYYY-MM-DD).") % {"day": raw[:40]}) from None
    if not FIRST_DAY <= day <= today + dt.timedelta(days=1):
        raise BadDay(_("There is no track for %(day)s.") % {"day": day.isoformat()})
    return day


def _track_areas(device: Device, user: User) -> list[Area]:
    """The outline under the track: the device's unit's areas, else its staff member's,
    else the viewer's own."""
    if device.unit_id is not None:
        areas = list(Area.objects.filter(units=device.unit_id))
        if areas:
            return areas
    if device.staff_id is not None:
        areas = list(Area.objects.filter(staff__user_id=device.staff_id))
        if areas:
            return areas
    return _user_areas(user)


@trackers_only
@require_GET
def track(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    device = get_object_or_404(
        visible_devices(user).select_related("unit", "staff__profile"), pk=pk
    )
    today = timezone.localdate()
    try:
        day = parse_day(request.GET.get("day"), today)
    except BadDay as exc:
        log.info("track of device %s: bad day %r from %s", pk, request.GET.get("day"), user)
        return render(
            request,
            "fleet/track.html",
            {"device": device, "label": device_label(device), "error": str(exc), "today": today},
            status=400,
        )
    day_track = tracks.day_track(device.pk, day)
    points = tracks.playback_points(day_track)
    stops = [
        {
            "start": timezone.localtime(s.start),
            "end": timezone.localtime(s.end),
            "minutes": round(s.seconds / 60),
            "lat": round(s.lat, 6),
            "lon": round(s.lon, 6),
        }
        for s in day_track.stops
    ]
    return render(
        request,
        "fleet/track.html",
        {
            "device": device,
            "label": device_label(device),
            "staff": staff_name(device.staff) if device.staff_id else "",
            "day": day,
            "today": today,
            "previous": day - dt.timedelta(days=1),
            "next": day + dt.timedelta(days=1) if day < today else None,
            "track": day_track,
            "km": day_track.distance_m / 1000,
            "stops": stops,
            "points": points,
            "stop_points": [[s["lat"], s["lon"], s["minutes"]] for s in stops],
            "stop_minutes": tracks.STOP_MIN_SECONDS // 60,
            "stop_radius": round(tracks.STOP_RADIUS_M),
            "area_shapes": _area_shapes(_track_areas(device, user)),
            "watch": may_watch(user),
            **_map_config(),
        },
    )
