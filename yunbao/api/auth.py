"""Who is calling: an API token (`Authorization: Bearer …`) or the browser's session.

A token is tried first; a request without one (or with a refused one) may still be a
logged-in browser, whose every unsafe request (POST, PUT, PATCH, DELETE) must carry the
CSRF token (`X-CSRFToken` header, the value of the `csrftoken` cookie), as Django's forms
do. Tokens need no CSRF token: a browser never sends them by itself.

Whichever way, the caller acts as the user: the same roles, areas and `visible_to` as on
the pages. `request.user` is that user, and `request.api_token` the token, if any (the
rate limit counts per token).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from yunbao.api import tokens

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class TokenAuth(HttpBearer):
    """`Authorization: Bearer yb_…`: a personal API token."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = tokens.authenticate(token.strip())
        if found is None:
            log.info("API request with a refused token to %s", request.path)
            return None
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


class SessionAuth(APIKeyCookie):
    """The browser's login session, with Django's CSRF check on unsafe methods."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        # CSRF is checked below, only for a logged-in user: an anonymous request gets
        # "not logged in" (401), not a confusing CSRF failure.
        super().__init__(csrf=False)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            log.info("API %s %s by %s refused: CSRF", request.method, request.path, user)
            raise HttpError(
                403,
                _("Security check failed: send the X-CSRFToken header (or use an API token)."),
            )
        return user


def caller(request: HttpRequest) -> User:
    """The authenticated user of a request that passed `AUTH`."""
    user = request.user
    assert isinstance(user, User), "routes behind AUTH have a logged-in user"
    return user


# Every route of the API except intake's public ones takes either.
AUTH = [TokenAuth(), SessionAuth()]
