"""The Open311 GeoReport v2 endpoints under /open311/v2/, in XML and JSON.

Who may use them: every GET is public (anyone, no login, no key) and shows only public
facts (see `records`); the two POSTs need an active client's `api_key` (403 otherwise). No
view looks at the session, so there is no CSRF to check. Text comes in the request's
language (Accept-Language, through Django's LocaleMiddleware; Simplified Chinese by
default), and the answer says which (Content-Language).

Errors are the spec's: 404 for an unknown resource, format or jurisdiction, 403 for a
missing or bad api_key, 400 for everything else, each with an `errors` document listing
every problem found.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from yunbao.catalog.models import Category
from yunbao.open311 import actions, records
from yunbao.open311.actions import Open311Error
from yunbao.open311.models import ClientUpdate, Jurisdiction, ServiceAttribute
from yunbao.open311.params import MAX_RESULTS, Params
from yunbao.open311.serializers import FORMATS, JSON, MEDIA_TYPES, XML, errors, render, w3c
from yunbao.workorders.models import OPEN_STATUSES, TimelineEntry, WorkOrder

log = logging.getLogger(__name__)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this API last changed in a way clients may care about (discovery's changeset).
CHANGESET = "2025-06-01T00:00:00+08:00"

View = Callable[..., HttpResponse]


def endpoint(*methods: str) -> Callable[[View], View]:
    """Checks the format and method, and turns `Open311Error` into the spec's error answer."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, fmt: str, **kwargs: Any) -> HttpResponse:
            if fmt not in FORMATS:
                return errors(XML, 404, [_("Unknown format; use .xml or .json.")])
            if request.method not in allowed:
                response = errors(
                    fmt,
                    400,
                    [_("Method %(method)s is not allowed here.") % {"method": request.method}],
                )
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            try:
                response = view(request, fmt, **kwargs)
            except Open311Error as exc:
                log.info("open311 %s %s: %s %s", request.method, request.path, exc.status, exc)
                response = errors(fmt, exc.status, exc.problems)
            if request.method in ("GET", "HEAD"):
                # Public data: browser applications on other sites may read it.
                response["Access-Control-Allow-Origin"] = "*"
            return response

        return wrapper

    return decorate


def _params(request: HttpRequest) -> QueryDict:
    return request.POST if request.method == "POST" else request.GET


def _jurisdiction(request: HttpRequest) -> Jurisdiction | None:
    return actions.jurisdiction_for(_params(request).get("jurisdiction_id", ""))


def _root_url() -> str:
    return f"{settings.YUNBAO_PUBLIC_URL}/open311/v2/"


@endpoint("GET")
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    formats = [MEDIA_TYPES[XML], MEDIA_TYPES[JSON]]
    production = _root_url()
    endpoints = [
        {
            "specification": SPECIFICATION,
            "url": url,
            "changeset": CHANGESET,
            "type": kind,
            "formats": formats,
        }
        for kind, url in (
            ("production", production),
            ("test", settings.YUNBAO_OPEN311_TEST_URL or production),
        )
    ]
    data = {
        "changeset": CHANGESET,
        "contact": settings.YUNBAO_OPEN311_CONTACT,
        "key_service": settings.YUNBAO_OPEN311_KEY_SERVICE,
        "endpoints": endpoints,
    }
    return render(fmt, "discovery", data)


def _english() -> bool:
    return (get_language() or "").startswith("en")


@endpoint("GET")
def services(request: HttpRequest, fmt: str) -> HttpResponse:
    _jurisdiction(request)
    english = _english()
    categories = (
        Category.objects.filter(active=True)
        .annotate(has_attributes=Exists(ServiceAttribute.objects.filter(category=OuterRef("pk"))))
        .prefetch_related("scenes")
    )
    data = []
    for category in categories:
        scenes = sorted(category.scenes.all(), key=lambda s: (s.sort, s.code))
        major = (english and category.major_name_en) or category.major_name
        data.append(
            {
                "service_code": category.code,
                "service_name": category.display_name,
                "description": " / ".join(
                    [str(category.get_kind_display()), major, category.display_name]
                ),
                "metadata": bool(category.has_attributes),
                "type": "realtime",
                "keywords": ", ".join(category.keyword_list),
                "group": scenes[0].display_name if scenes else None,
            }
        )
    return render(fmt, "services", data)


@endpoint("GET")
def service_definition(request: HttpRequest, fmt: str, code: str) -> HttpResponse:
    _jurisdiction(request)
    category = Category.objects.filter(code=code, active=True).first()
    if category is None:
        raise Open311Error(404, [_("service_code not found.")])
    attributes = [
        {
            "variable": a.variable,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": a.display_datatype_description or None,
            "order": a.order,
            "description": a.display_description,
            "values": a.display_values(),
        }
        for a in ServiceAttribute.objects.filter(category=category).order_by("order", "code")
    ]
    return render(
        fmt, "service_definition", {"service_code": category.code, "attributes": attributes}
    )


@endpoint("GET", "POST")
def service_requests(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _create(request, fmt)
    jurisdiction = _jurisdiction(request)
    params = Params(request.GET)
    orders = WorkOrder.objects.filter(actions.in_jurisdiction(jurisdiction))
    ids = params.comma_list("service_request_id")
    offset, limit = params.page()
    if ids:
        # The spec: ids override every other filter.
        if len(ids) > MAX_RESULTS:
            params.problems.append(
                _("At most %(n)d service_request_id at once.") % {"n": MAX_RESULTS}
            )
        orders = orders.filter(number__in=ids)
    else:
        start, end = params.window()
        orders = orders.filter(created_at__gte=start)
        if end is not None:
            orders = orders.filter(created_at__lte=end)
        if codes := params.comma_list("service_code"):
            orders = orders.filter(category__code__in=codes)
        if statuses := [s.lower() for s in params.comma_list("status")]:
            if set(statuses) - {"open", "closed"}:
                params.problems.append(_("status must be open, closed or both."))
            elif set(statuses) == {"open"}:
                orders = orders.open()
            elif set(statuses) == {"closed"}:
                orders = orders.exclude(status__in=OPEN_STATUSES)
    if params.problems:
        raise Open311Error(400, params.problems)
    orders = orders.order_by("-created_at", "-id")[offset : offset + limit]
    return render(fmt, "service_requests", records.request_records(orders))


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    # The key first: without a valid one nothing else is looked at (nor said).
    client = actions.authenticate(request.POST.get("api_key", ""))
    jurisdiction = _jurisdiction(request)
    created = actions.submit_request(
        client=client,
        jurisdiction=jurisdiction,
        data=request.POST,
        media=request.FILES.getlist("media"),
        idempotency_key=request.headers.get("Idempotency-Key", "").strip()[:200],
    )
    return render(
        fmt,
        "service_requests",
        [
            {
                "service_request_id": created.order.number,
                "token": created.token,
                "service_notice": created.notice,
                "account_id": created.details.account_id or None,
            }
        ],
    )


@endpoint("GET")
def service_request(request: HttpRequest, fmt: str, request_id: str) -> HttpResponse:
    jurisdiction = _jurisdiction(request)
    orders = WorkOrder.objects.filter(actions.in_jurisdiction(jurisdiction), number=request_id)
    found = records.request_records(orders)
    if not found:
        raise Open311Error(404, [_("service_request_id not found.")])
    return render(fmt, "service_requests", found)


@endpoint("GET")
def token(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    number = actions.token_order(token, _jurisdiction(request))
    return render(fmt, "service_requests", [{"service_request_id": number, "token": token}])


@endpoint("GET", "POST")
def updates(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        client = actions.authenticate(request.POST.get("api_key", ""))
        update = actions.post_update(
            client=client, jurisdiction=_jurisdiction(request), data=request.POST
        )
        return render(fmt, "service_request_updates", [{"update_id": update.update_id}])
    jurisdiction = _jurisdiction(request)
    params = Params(request.GET)
    start, end = params.window()
    offset, limit = params.page()
    ids = params.comma_list("service_request_id")
    if params.problems:
        raise Open311Error(400, params.problems)
    of_orders = Q()
    if jurisdiction is not None:
        of_orders &= Q(order__area_path__startswith=jurisdiction.area.path)
    if ids:
        of_orders &= Q(order__number__in=ids[:MAX_RESULTS])
    entries = TimelineEntry.objects.filter(
        of_orders, action__in=records.PUBLIC_MOVES, at__gte=start
    )
    notes = ClientUpdate.objects.filter(of_orders, created_at__gte=start)
    if end is not None:
        entries = entries.filter(at__lte=end)
        notes = notes.filter(created_at__lte=end)
    # Newest first, paged over both kinds in the database: one UNION of (time, id, kind)
    # picks the page, then each kind's rows are read by id (three queries in all).
    page = list(
        entries.order_by()
        .annotate(kind=Value("t", output_field=CharField()))
        .values_list("at", "pk", "kind")
        .union(
            notes.order_by()
            .annotate(kind=Value("c", output_field=CharField()))
            .values_list("created_at", "pk", "kind"),
            all=True,
        )
        .order_by("-at", "-pk")[offset : offset + limit]
    )
    picked = {
        ("t", int(u["update_id"])): u
        for u in records.timeline_updates(
            TimelineEntry.objects.filter(pk__in=[pk for _, pk, k in page if k == "t"])
        )
    }
    picked.update(
        (("c", u.pop("pk")), u)
        for u in _client_updates(
            ClientUpdate.objects.filter(pk__in=[pk for _, pk, k in page if k == "c"])
        )
    )
    return render(fmt, "service_request_updates", [picked[(k, pk)] for _, pk, k in page])


def _client_updates(notes: Any) -> list[dict[str, Any]]:
    rows = notes.values(
        "pk", "description", "created_at", "order__number", "order__status", "order__reporter_phone"
    )
    return [
        {
            "update_id": f"c{row['pk']}",
            "service_request_id": row["order__number"],
            "status": records.open_or_closed(row["order__status"]),
            "updated_datetime": w3c(row["created_at"]),
            "description": records.mask(row["description"], row["order__reporter_phone"]),
            # The client's own media_url is not shown: never fetched, never checked.
            "media_url": None,
            "pk": row["pk"],
        }
        for row in rows
    ]


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Anything else under /open311/v2/: the spec's 404, in JSON when the path asks for it."""
    fmt = JSON if path.endswith(".json") else XML
    return errors(fmt, 404, [_("No such resource.")])
