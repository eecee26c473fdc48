"""Pages that print "scan to report" QR codes and posters for areas and units.

Who may use them: logged-in dispatchers, managers, supervisors, organisers and
administrators (anyone else gets 403). Which places each of them may print for:

- administrators: every area and every active unit;
- dispatchers, managers and organisers: the areas within their own areas (a prefix match
  on the materialised path), and the active units all of whose service areas are within
  them;
- supervisors: their own unit.

A place someone may not print for answers 404, like an unknown code, so codes reveal
nothing. `printable_areas` and `printable_units` decide this for the index and the
pictures alike.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header

from yunbao.geo.models import Area, Level
from yunbao.intake import qr
from yunbao.org.models import Role, Unit
from yunbao.org.roles import areas_of, roles_of, unit_of

# Roles that may print posters at all.
PRINT_ROLES = frozenset(
    {Role.DISPATCHER, Role.MANAGER, Role.SUPERVISOR, Role.ORGANISER, Role.ADMIN}
)
# Roles that print for the areas they work in (a supervisor prints for their unit only).
AREA_ROLES = frozenset({Role.DISPATCHER, Role.MANAGER, Role.ORGANISER})
# Levels the index lists without a search; grids are too many and are found by searching.
LISTED_LEVELS = (Level.STREET, Level.COMMUNITY)
PAGE_SIZE = 50
# Pictures depend on who asks (and on the host in the URL they encode): browser cache only.
CACHE_SECONDS = 300
PAPER_SIZES = ("a5", "a4")


def _print_roles(request: HttpRequest) -> set[str]:
    """The user's roles, or 403 when none of them may print posters."""
    roles = roles_of(request.user)
    if not roles & PRINT_ROLES:
        raise PermissionDenied
    return roles


def _scope(user: Any) -> Q | None:
    """Areas within one of the user's own areas, or None when they have none."""
    paths = [area.path for area in areas_of(user)]
    if not paths:
        return None
    return reduce(or_, (Q(path__startswith=path) for path in paths))


def printable_areas(user: Any) -> QuerySet[Area]:
    """The areas `user` may print posters for (see the module docstring)."""
    roles = roles_of(user)
    if Role.ADMIN in roles:
        return Area.objects.all()
    scope = _scope(user) if roles & AREA_ROLES else None
    if scope is None:
        return Area.objects.none()
    return Area.objects.filter(scope)


def printable_units(user: Any) -> QuerySet[Unit]:
    """The active units `user` may print posters for (see the module docstring)."""
    roles = roles_of(user)
    units = Unit.objects.filter(active=True)
    if Role.ADMIN in roles:
        return units
    allowed = Q(pk__in=[])
    own = unit_of(user)
    if Role.SUPERVISOR in roles and own is not None:
        allowed |= Q(pk=own.pk)
    scope = _scope(user) if roles & AREA_ROLES else None
    if scope is not None:
        # A unit poster covers the unit's whole patrol area, so every service area must be
        # the user's; a unit with no service areas binds a report to nothing and is left out.
        outside = Unit.objects.filter(areas__in=Area.objects.exclude(scope)).values("pk")
        allowed |= Q(areas__isnull=False) & ~Q(pk__in=outside)
    return units.filter(allowed).distinct()


def _area(request: HttpRequest, code: str) -> Area:
    _print_roles(request)
    return get_object_or_404(printable_areas(request.user), code=code)


def _unit(request: HttpRequest, code: str) -> Unit:
    _print_roles(request)
    return get_object_or_404(printable_units(request.user), code=code)


def _png(content: bytes, *, filename: str | None = None) -> HttpResponse:
    response = HttpResponse(content, content_type="image/png")
    patch_cache_control(response, private=True, max_age=CACHE_SECONDS)
    if filename:
        response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _poster_page(
    request: HttpRequest, poster: qr.Poster, *, png_url: str, poster_png_url: str
) -> HttpResponse:
    paper = request.GET.get("paper", "").lower()
    return render(
        request,
        "intake/poster.html",
        {
            "poster": poster,
            "qr_data_uri": qr.qr_data_uri(poster.url),
            "png_url": png_url,
            "poster_png_url": poster_png_url,
            "paper": paper if paper in PAPER_SIZES else PAPER_SIZES[0],
            "paper_sizes": PAPER_SIZES,
        },
    )


@login_required
def area_qr_png(request: HttpRequest, code: str) -> HttpResponse:
    """The bare QR code of an area's report link (PNG). Who: see the module docstring."""
    area = _area(request, code)
    return _png(qr.qr_png(qr.report_url(request, area=area)))


@login_required
def area_poster_png(request: HttpRequest, code: str) -> HttpResponse:
    """An area's poster as a PNG download. Who: see the module docstring."""
    area = _area(request, code)
    return _png(qr.area_poster(request, area).png(), filename=f"poster-area-{area.code}.png")


@login_required
def area_poster(request: HttpRequest, code: str) -> HttpResponse:
    """An area's printable poster page. Who: see the module docstring."""
    area = _area(request, code)
    return _poster_page(
        request,
        qr.area_poster(request, area),
        png_url=reverse("qr-area-png", args=[area.code]),
        poster_png_url=reverse("qr-area-poster-png", args=[area.code]),
    )


@login_required
def unit_qr_png(request: HttpRequest, code: str) -> HttpResponse:
    """The bare QR code of a unit's report link (PNG). Who: see the module docstring."""
    unit = _unit(request, code)
    return _png(qr.qr_png(qr.report_url(request, unit=unit)))


@login_required
def unit_poster_png(request: HttpRequest, code: str) -> HttpResponse:
    """A unit's poster as a PNG download. Who: see the module docstring."""
    unit = _unit(request, code)
    return _png(qr.unit_poster(request, unit).png(), filename=f"poster-unit-{unit.code}.png")


@login_required
def unit_poster(request: HttpRequest, code: str) -> HttpResponse:
    """A unit's printable poster page. Who: see the module docstring."""
    unit = _unit(request, code)
    return _poster_page(
        request,
        qr.unit_poster(request, unit),
        png_url=reverse("qr-unit-png", args=[unit.code]),
        poster_png_url=reverse("qr-unit-poster-png", args=[unit.code]),
    )


@login_required
def qr_index(request: HttpRequest) -> HttpResponse:
    """The places the user may print posters for: units, then areas (streets and
    communities; any level, grids included, by searching a code or name), 50 a page.
    Who: see the module docstring."""
    _print_roles(request)
    query = request.GET.get("q", "").strip()
    areas = printable_areas(request.user)
    units = printable_units(request.user)
    if query:
        areas = areas.filter(
            Q(code__icontains=query) | Q(name__icontains=query) | Q(name_en__icontains=query)
        )
        units = units.filter(
            Q(code__icontains=query) | Q(name__icontains=query) | Q(name_en__icontains=query)
        )
    else:
        areas = areas.filter(level__in=LISTED_LEVELS)
    page = Paginator(areas.order_by("path"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "intake/poster_index.html",
        {"query": query, "page": page, "units": list(units.order_by("code"))},
    )
