"""The REST API under /api/v1/: OpenAPI 3 at /api/v1/openapi.json, docs at /api/v1/docs.

One `NinjaAPI` with a router per area: intake (public reporting), orders, moves, photos,
devices, tokens, webhooks. Here live what is common to all of them: the error shape for
every failure (also django-ninja's own and unexpected ones), the rate limit, the
documentation of the shared error answers in the schema, the docs page (its Swagger UI
sends the CSRF token, so a logged-in browser can try every route) and a JSON 404 for
unknown paths under /api/v1/.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.urls import URLPattern
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Router, Swagger
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.openapi.docs import render_template

from yunbao.api.errors import ApiError, body
from yunbao.api.routes import devices, moves, orders, photos, tokens, webhooks
from yunbao.api.throttle import RateLimit, client_ip, hit
from yunbao.intake.api import router as intake_router

log = logging.getLogger(__name__)

DESCRIPTION = """
Yunbao's REST API: report problems (intake), follow and move work orders through their
life, upload photos, read devices and their latest positions, manage your API tokens and
(administrators) webhook subscriptions.

**Authentication.** Either an API token, `Authorization: Bearer yb_…` (make one with
`POST /api/v1/tokens` while logged in; the key is shown once), or the browser's login
session, whose unsafe requests (POST, PATCH, DELETE) carry the `X-CSRFToken` header. The
caller acts with their own roles and areas, as on the pages: they see and move only what
the pages would let them. The intake routes are open to anyone.

**Errors** all have one shape: `{"detail": "...", "errors": [{"field": "...",
"message": "..."}]}`. 401 no valid credentials; 403 your role may not; 404 no such thing
*that you may see* (another area's order is a 404); 409 not in the current state; 422 bad
input; 429 too many requests (see `Retry-After`).

**Lists** are cursor-paginated: `{"results": [...], "next_cursor": "..."}`; ask the next page
with `?cursor=<next_cursor>` and the same filters; `limit` sets the page size (capped).

**Rate limits** per token, per logged-in user and, without credentials, per IP address
(`API_RATE_LIMIT`, `API_ANON_RATE_LIMIT` requests per minute).

**Moves** accept an optional `Idempotency-Key` header: a retry with the same key gets the
first answer (`"replayed": true`) instead of moving twice.

**Webhooks** POST JSON to the subscriber's URL with `X-Yunbao-Event` (`order.created`,
`order.status_changed`, `order.overdue`), `X-Yunbao-Delivery` (deduplicate on it),
`X-Yunbao-Timestamp` and `X-Yunbao-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.
"""


class Docs(Swagger):
    """Swagger UI that always sends the CSRF token: the browser's session may try every
    route (the token routes included) from the docs page."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            "swagger_settings": json.dumps(self.settings, indent=1),
            "api": api,
            "add_csrf": True,
        }
        return render_template(request, self.template, self.template_cdn, context)


ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
COMMON_ERRORS = {
    "401": "Not logged in, or the token is missing, revoked or expired.",
    "422": "Bad input: `errors` says which field.",
    "429": "Too many requests: wait `Retry-After` seconds.",
}


class YunbaoAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        """The schema, with the errors every route may answer documented on each route."""
        schema = super().get_openapi_schema(**kwargs)
        for methods in schema.get("paths", {}).values():
            for operation in methods.values():
                # django-ninja keys its answers by int; JSON has only strings.
                answers = {str(k): v for k, v in operation.get("responses", {}).items()}
                operation["responses"] = answers
                for code, text in COMMON_ERRORS.items():
                    if code == "401" and not operation.get("security"):
                        continue
                    answers.setdefault(
                        code,
                        {
                            "description": text,
                            "content": {"application/json": {"schema": ERROR_REF}},
                        },
                    )
                    if code == "429":
                        answers[code].setdefault(
                            "headers",
                            {"Retry-After": {"schema": {"type": "integer"}}},
                        )
        return schema

    @property
    def urls(self) -> tuple[list[Any], str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if isinstance(pattern, URLPattern) and not hasattr(pattern.callback, "_nul_guard"):
                pattern.callback = _refuse_nul(pattern.callback)
        return patterns, app_name, namespace


def _has_nul(values: QueryDict) -> str | None:
    for name, items in values.lists():
        if "\x00" in name or any("\x00" in v for v in items):
            return name.replace("\x00", "")
    return None


def _refuse_nul(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse a NUL character in the path, the query or form fields before any route sees
    it: no text column stores it (PostgreSQL fails on it), so it is never good input.
    JSON bodies are checked by the schemas' patterns."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        field = None
        if "\x00" in request.path or any("\x00" in str(v) for v in kwargs.values()):
            field = "path"
        else:
            field = _has_nul(request.GET)
            if (
                field is None
                and request.method == "POST"
                and request.content_type
                in (
                    "multipart/form-data",
                    "application/x-www-form-urlencoded",
                )
            ):
                field = _has_nul(request.POST)
        if field is not None:
            log.info("API request with a NUL character refused: %s", request.path[:200])
            detail = _("Text may not contain NUL characters.")
            return api.create_response(
                request, body(detail, [{"field": field, "message": detail}]), status=422
            )
        return view(request, *args, **kwargs)

    guarded._nul_guard = True  # type: ignore[attr-defined]
    return guarded


api = YunbaoAPI(
    title="Yunbao API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs=Docs(),
    throttle=[RateLimit()],
)
api.add_router("/", intake_router)
api.add_router("/", orders.router)
api.add_router("/", moves.router)
api.add_router("/", photos.router)
api.add_router("/", devices.router)
api.add_router("/", tokens.router)
api.add_router("/", webhooks.router)

# Last: whatever no route above matched is a 404 in the API's own shape, not an HTML page.
fallback = Router()


@fallback.api_operation(
    ["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", include_in_schema=False
)
def not_found(request: HttpRequest, rest: str) -> HttpResponse:
    return api.create_response(request, body(_("No such API route.")), status=404)


api.add_router("/", fallback)


# --- One error shape -----------------------------------------------------------------------


@api.exception_handler(ApiError)
def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = api.create_response(request, body(exc.detail, exc.errors), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """One error shape everywhere, also for input the schema refuses."""
    errors = [
        {"field": str(e.get("loc", ["", "?"])[-1]), "message": str(e.get("msg", ""))}
        for e in exc.errors
    ]
    return api.create_response(
        request, body(errors[0]["message"] if errors else "", errors), status=422
    )


@api.exception_handler(AuthenticationError)
def not_authenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    # Requests without valid credentials count against their address, so guessing tokens
    # or hammering the API anonymously is limited like any anonymous traffic.
    wait = hit(f"ip:{client_ip(request)}", settings.YUNBAO_API_ANON_RATE_LIMIT)
    if wait is not None:
        return too_many(request, Throttled(wait))
    response = api.create_response(
        request,
        body(_("Log in, or send an API token: Authorization: Bearer <token>.")),
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="yunbao"'
    return response


@api.exception_handler(Throttled)
def too_many(request: HttpRequest, exc: Throttled) -> HttpResponse:
    wait = int(exc.wait) if exc.wait else 60
    response = api.create_response(
        request,
        body(_("Too many requests; try again in %(n)d seconds.") % {"n": wait}),
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # django-ninja's "cannot parse the body" is a 400; bad input is a 422 in this API.
    status = 422 if exc.status_code == 400 else exc.status_code
    if status == 422:
        detail = _("The request body cannot be read (malformed JSON or form).")
        return api.create_response(
            request, body(detail, [{"field": "body", "message": detail}]), status=422
        )
    return api.create_response(request, body(exc.message), status=status)


@api.exception_handler(Http404)
def not_found_error(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, body(_("Not found.")), status=404)


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API %s %s failed", request.method, request.path)
    return api.create_response(
        request, body(_("Something went wrong on our side; it has been logged.")), status=500
    )
