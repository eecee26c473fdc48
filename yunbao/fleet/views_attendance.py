"""The attendance (考勤) and coverage pages, and the attendance day as a spreadsheet.

- `/fleet/attendance/?unit=<code>&day=<YYYY-MM-DD>`: one unit's day, a row per person (their
  stretches of duty, status, first and last fix in their area, minutes out of it, the
  excursions) and the unit's on-duty rate; the day before and after one tap away.
- `/fleet/attendance/export.xlsx?unit=&day=`: the same rows as an Excel sheet.
- `/fleet/coverage/[?all=1]`: per unit, the share of staff (on duty now; `all=1`: every one)
  and of vehicles with a fresh position, and who or what is missing.

The rules behind the figures are in `yunbao.fleet.attendance` and `yunbao.fleet.coverage`.

Who may see what
----------------
Positions and attendance are personal records, so the pages follow the order pages' rule
(`yunbao.workorders.access`): people see what lies in their areas, and a unit's own leaders
see their unit.

- Administrators see every unit.
- A unit's leader (`Unit.leader`, whatever their role) and a supervisor of the unit (their
  profile's unit) see all of it.
- Dispatchers, operations managers and supervisors see the units working in their areas:
  a unit all of whose service areas lie in theirs in full; a unit only partly there (or
  with people working there) only for the people whose areas (their own, else the unit's)
  overlap theirs, and its rate and shares are computed over those people. Vehicles carry
  no area: a unit's vehicles show to whoever sees the unit.
- Anyone else logged in gets 403 (the live map's rule, `devices.may_watch`), an anonymous
  visitor the login page; a unit the viewer may not see is 403 too, so another unit's
  leader gets nothing of it.

This is narrower than the live map's device rule for a unit that only partly works in the
viewer's areas (the map shows all its badges): attendance is a record about each person, so
only the people working in the viewer's areas are listed.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from yunbao.fleet.attendance import (
    PersonDay,
    SpanAttendance,
    Status,
    UnitDay,
    area_paths,
    unit_day,
)
from yunbao.fleet.coverage import UnitCoverage, coverage, window
from yunbao.fleet.devices import led_unit_ids, may_watch
from yunbao.org.models import Role, StaffProfile, Unit
from yunbao.org.roles import areas_of, roles_of, unit_of

log = logging.getLogger(__name__)

# Roles that see the units working in their areas.
AREA_ROLES = frozenset({Role.DISPATCHER, Role.MANAGER, Role.SUPERVISOR})
# Days a page may show: history from here on, and rosters a few weeks ahead.
FIRST_DAY = dt.date(2000, 1, 1)
DAYS_AHEAD = 31
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- Access ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sight:
    """What a viewer may see of one unit: all of it, or the people working in `paths`."""

    unit: Unit
    whole: bool
    paths: tuple[str, ...] = ()

    def sees(self, person_paths: Sequence[str]) -> bool:
        """Whether a person working in `person_paths` is visible (areas overlap)."""
        if self.whole:
            return True
        return any(
            mine.startswith(theirs) or theirs.startswith(mine)
            for mine in self.paths
            for theirs in person_paths
        )


def sights_of(user: User | AnonymousUser) -> list[Sight]:
    """The active units `user` may see, and how much of each, ordered by code."""
    if not user.is_authenticated or not user.is_active:
        return []
    roles = roles_of(user)
    units = list(Unit.objects.filter(active=True).prefetch_related("areas").order_by("code"))
    if getattr(user, "is_superuser", False) or Role.ADMIN in roles:
        return [Sight(unit, True) for unit in units]
    whole = set(led_unit_ids(user))
    own = unit_of(user)
    if Role.SUPERVISOR in roles and own is not None:
        whole.add(own.pk)
    paths = tuple(a.path for a in areas_of(user)) if roles & AREA_ROLES else ()
    staffed: set[int] = set()
    if paths:
        # Units with someone working inside the viewer's areas.
        overlap = Q()
        for path in paths:
            overlap |= Q(areas__path__startswith=path)
        staffed = set(
            StaffProfile.objects.filter(overlap, unit__isnull=False).values_list(
                "unit_id", flat=True
            )
        )
    sights = []
    for unit in units:
        unit_paths = [a.path for a in unit.areas.all()]
        if unit.pk in whole or (
            paths and unit_paths and all(p.startswith(paths) for p in unit_paths)
        ):
            sights.append(Sight(unit, True))
        elif paths and (unit.pk in staffed or Sight(unit, False, paths).sees(unit_paths)):
            sights.append(Sight(unit, False, paths))
    return sights


def _refused(request: HttpRequest) -> HttpResponse | None:
    """The 403 page for someone these pages are not for (the live map's rule,
    `devices.may_watch`: the area roles, unit leaders, administrators), else None."""
    if may_watch(request.user):
        return None
    log.info("fleet page %s refused to %s", request.path, request.user)
    return render(request, "fleet/forbidden.html", status=403)


def _visible(sight: Sight, profiles: Iterable[StaffProfile | None]) -> list[int]:
    """Ids of the people among `profiles` (areas prefetched) that `sight` shows."""
    unit_paths = [a.path for a in sight.unit.areas.all()]
    return [
        profile.user_id
        for profile in profiles
        if profile is not None and sight.sees(area_paths(profile, unit_paths))
    ]


# --- Parameters ----------------------------------------------------------------------------


class BadRequest(ValueError):
    """A parameter that cannot be used; its message is shown to the person."""


def _today() -> dt.date:
    return timezone.localtime(timezone.now(), timezone.get_default_timezone()).date()


def _day(raw: str | None) -> dt.date:
    today = _today()
    if not raw:
        return today
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise BadRequest(_("The day must be a date like 2025-03-01.")) from exc
    if not FIRST_DAY <= day <= today + dt.timedelta(days=DAYS_AHEAD):
        raise BadRequest(
            _("Choose a day between %(first)s and %(last)s.")
            % {"first": FIRST_DAY, "last": today + dt.timedelta(days=DAYS_AHEAD)}
        )
    return day


def _sight(sights: list[Sight], code: str | None) -> Sight | None:
    """The unit asked for (by code), else the first one the viewer sees; 403 for others."""
    if not code:
        return sights[0] if sights else None
    for sight in sights:
        if sight.unit.code == code:
            return sight
    raise PermissionDenied


def _attendance(request: HttpRequest) -> tuple[list[Sight], Sight | None, dt.date]:
    sights = sights_of(request.user)
    day = _day(request.GET.get("day"))
    return sights, _sight(sights, request.GET.get("unit")), day


def _seen_day(sight: Sight, day: dt.date) -> UnitDay:
    result = unit_day(sight.unit, day)
    if sight.whole:
        return result
    return result.only(_visible(sight, (getattr(p.user, "profile", None) for p in result.people)))


# --- Attendance ----------------------------------------------------------------------------


def _clock(at: dt.datetime | None, day: dt.date) -> str:
    """A time of day, with its date when it falls on another day than `day`."""
    if at is None:
        return "—"
    local = timezone.localtime(at, timezone.get_default_timezone())
    return f"{local:%H:%M}" if local.date() == day else f"{local:%m-%d %H:%M}"


def _span_text(span: SpanAttendance) -> str:
    zone = timezone.get_default_timezone()
    start, end = (timezone.localtime(t, zone) for t in (span.span.start, span.span.end))
    text = f"{start:%H:%M}–{end:%H:%M}"
    if span.overnight:
        text += " (+1)"
    if span.span.extra:
        text += " " + _("extra")
    return text


def _excursion_text(span: SpanAttendance, day: dt.date) -> list[str]:
    texts = []
    for e in span.excursions:
        back = _clock(e.back, day) if e.back else _("not back")
        texts.append(
            _("%(start)s–%(back)s, %(minutes)d min")
            % {"start": _clock(e.start, day), "back": back, "minutes": round(e.minutes)}
        )
    return texts


def _row(person: PersonDay, day: dt.date) -> dict[str, Any]:
    status = person.status
    marks = []
    if person.late and status != Status.LATE:
        marks.append(str(Status.LATE.label))
    if person.left_early and status != Status.LEFT_EARLY:
        marks.append(str(Status.LEFT_EARLY.label))
    return {
        "name": person.name,
        "username": person.user.get_username(),
        "badges": person.badges,
        "spans": [
            {
                "text": _span_text(s),
                "status": s.status,
                "label": Status(s.status).label,
                "final": s.final,
            }
            for s in person.spans
        ],
        "status": status,
        "label": Status(status).label,
        "marks": marks,
        "final": person.final,
        "first": _clock(person.first_in, day),
        "last": _clock(person.last_in, day),
        "out_minutes": round(person.out_minutes),
        "excursions": [t for s in person.spans for t in _excursion_text(s, day)],
    }


@login_required
@require_GET
def attendance(request: HttpRequest) -> HttpResponse:
    """One unit's attendance on one day (see the module's docstring for who may see it)."""
    if (refusal := _refused(request)) is not None:
        return refusal
    try:
        sights, sight, day = _attendance(request)
    except BadRequest as exc:
        log.info("attendance page: bad request from %s: %s", request.user, exc)
        return render(
            request,
            "fleet/attendance.html",
            {"error": str(exc), "sights": sights_of(request.user)},
            status=400,
        )
    context: dict[str, Any] = {"sights": sights, "sight": sight, "day": day}
    if sight is not None:
        result = _seen_day(sight, day)
        rate = result.rate
        today = _today()

        def link(when: dt.date) -> str:
            query = urlencode({"unit": sight.unit.code, "day": when.isoformat()})
            return f"{reverse('fleet:attendance')}?{query}"

        context.update(
            {
                "result": result,
                "rows": [_row(p, day) for p in result.people],
                "rate": None if rate is None else round(rate * 100, 1),
                "counts": [
                    (Status(s).label, s, result.count(s))
                    for s in (Status.ON_DUTY, Status.LATE, Status.LEFT_EARLY, Status.ABSENT)
                ],
                "previous": link(day - dt.timedelta(days=1)),
                "next": (
                    link(day + dt.timedelta(days=1))
                    if day < today + dt.timedelta(days=DAYS_AHEAD)
                    else None
                ),
                "today_link": link(today) if day != today else None,
                "export": reverse("fleet:attendance-xlsx")
                + "?"
                + urlencode({"unit": sight.unit.code, "day": day.isoformat()}),
                "grace": f"{settings.YUNBAO_FLEET_ATTENDANCE_GRACE_MINUTES:g}",
                "threshold": f"{settings.YUNBAO_FLEET_OUT_OF_AREA_MINUTES:g}",
            }
        )
    return render(request, "fleet/attendance.html", context)


@login_required
@require_GET
def attendance_xlsx(request: HttpRequest) -> HttpResponse:
    """The attendance page's rows as an Excel workbook (same access, same parameters)."""
    if (refusal := _refused(request)) is not None:
        return refusal
    try:
        _sights, sight, day = _attendance(request)
    except BadRequest as exc:
        log.info("attendance export: bad request from %s: %s", request.user, exc)
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    if sight is None:
        raise PermissionDenied
    result = _seen_day(sight, day)
    body = _workbook(result)
    response = HttpResponse(body, content_type=XLSX)
    name = f"attendance-{sight.unit.code}-{day.isoformat()}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _workbook(result: UnitDay) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = result.day.isoformat()
    rate = result.rate
    sheet.append([str(result.unit), result.day.isoformat()])
    sheet.append(
        [
            _("On-duty rate"),
            "—" if rate is None else f"{rate * 100:.1f}%",
            _("%(present)d of %(scheduled)d present")
            % {"present": result.present, "scheduled": result.scheduled},
        ]
    )
    sheet.append([])
    sheet.append(
        [
            _("Name"),
            _("Badges"),
            _("Shift"),
            _("Status"),
            _("Late"),
            _("Left early"),
            _("First fix in area"),
            _("Last fix in area"),
            _("Minutes out of area"),
            _("Excursions"),
        ]
    )
    for person in result.people:
        row = _row(person, result.day)
        sheet.append(
            [
                row["name"],
                ", ".join(row["badges"]),
                "; ".join(s["text"] for s in row["spans"]),
                str(row["label"]),
                _("yes") if person.late else "",
                _("yes") if person.left_early else "",
                row["first"],
                row["last"],
                row["out_minutes"],
                "; ".join(row["excursions"]),
            ]
        )
    for line in sheet.iter_rows():
        for cell in line:
            # openpyxl stores a text starting with "=" as a formula: names and device names
            # come from people, so every text stays text (no formula injection).
            if isinstance(cell.value, str):
                cell.data_type = "s"
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["C"].width = 24
    sheet.column_dimensions["J"].width = 40
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- Coverage ------------------------------------------------------------------------------


def _share(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


@login_required
@require_GET
def coverage_page(request: HttpRequest) -> HttpResponse:
    """Coverage of every unit the viewer may see (see the module's docstring)."""
    if (refusal := _refused(request)) is not None:
        return refusal
    sights = sights_of(request.user)
    everyone = request.GET.get("all") == "1"
    now = timezone.now()
    results = coverage([s.unit for s in sights], now, on_duty_only=not everyone)
    cards: list[dict[str, Any]] = []
    for sight, result in zip(sights, results, strict=True):
        shown: UnitCoverage = result
        if not sight.whole:
            ids = [e.user_id for e in result.staff if e.user_id is not None]
            profiles = StaffProfile.objects.filter(user_id__in=ids).prefetch_related("areas")
            shown = result.only(_visible(sight, profiles))
        cards.append(
            {
                "unit": sight.unit,
                "whole": sight.whole,
                "result": shown,
                "staff_share": _share(shown.staff_share),
                "vehicle_share": _share(shown.vehicle_share),
            }
        )
    staff = [e for c in cards for e in c["result"].staff]
    vehicles = [e for c in cards for e in c["result"].vehicles]
    return render(
        request,
        "fleet/coverage.html",
        {
            "cards": cards,
            "everyone": everyone,
            "now": now,
            "minutes": f"{window().total_seconds() / 60:g}",
            "staff_total": len(staff),
            "staff_covered": sum(1 for e in staff if e.covered),
            "staff_share": _share(sum(e.covered for e in staff) / len(staff) if staff else None),
            "vehicles_total": len(vehicles),
            "vehicles_covered": sum(1 for e in vehicles if e.covered),
            "vehicle_share": _share(
                sum(e.covered for e in vehicles) / len(vehicles) if vehicles else None
            ),
        },
    )
