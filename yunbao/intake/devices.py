"""The reporting phone's device token: "my reports" without an account.

A random token in a long-lived cookie identifies the phone (not the person). The middleware
gives every visitor of the reporting pages one, so the first report already belongs to it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

COOKIE = "yb_device"
MAX_AGE = 2 * 365 * 24 * 3600
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Paths where a phone may report or look at its reports.
PREFIXES = ("/report/", "/api/v1/reports", "/my/", "/t/")


def device_of(request: HttpRequest) -> str:
    """This phone's token ('' when the request carries none and none was issued)."""
    return getattr(request, "yb_device", "") or _valid(request.COOKIES.get(COOKIE, ""))


def _valid(token: str) -> str:
    return token if TOKEN_RE.match(token) else ""


class DeviceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        issued = ""
        if request.path.startswith(PREFIXES) and not _valid(request.COOKIES.get(COOKIE, "")):
            issued = secrets.token_urlsafe(24)
            request.yb_device = issued  # type: ignore[attr-defined]
        response = self.get_response(request)
        if issued:
            response.set_cookie(
                COOKIE,
                issued,
                max_age=MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response
