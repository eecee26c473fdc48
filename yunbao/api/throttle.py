"""Rate limits of the REST API: per API token, per logged-in user, per IP address.

Each request counts against one identity: its API token if it has one, else its session
user, else its IP address (only the last `API_TRUSTED_PROXIES` entries of X-Forwarded-For
are believed, so a client cannot pick its own address). A refused token also counts
against its address, so guessing tokens is as slow as any anonymous traffic.

Counters are fixed one-minute windows in the `api-rate` cache (`cache.add` + `incr`,
atomic in both local memory and Redis). A window allows `API_RATE_LIMIT` (identified) or
`API_ANON_RATE_LIMIT` (anonymous) requests; the next one is answered 429 with
`Retry-After`: the seconds until the window ends. A burst across a window's edge may get
up to twice the limit in a minute, the usual price of fixed windows.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
CACHE_ALIAS = "api-rate"
# The windows' clock; tests that count requests freeze it, so a run that happens to cross
# a minute's end does not start a fresh window half-way.
clock: Callable[[], float] = time.time
_last = threading.local()


def client_ip(request: HttpRequest) -> str:
    """The client's address: the connection's, or the one our own proxies recorded."""
    proxies = max(0, settings.YUNBAO_API_TRUSTED_PROXIES)
    if proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            # Each trusted proxy appended the address it saw; entries further left were
            # written by the client and prove nothing.
            return hops[-min(proxies, len(hops))]
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def identity(request: HttpRequest) -> tuple[str, int]:
    """(the counter's name, its limit per minute) for `request`."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return f"token:{token.pk}", settings.YUNBAO_API_RATE_LIMIT
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}", settings.YUNBAO_API_RATE_LIMIT
    return f"ip:{client_ip(request)}", settings.YUNBAO_API_ANON_RATE_LIMIT


def hit(name: str, limit: int, now: float | None = None) -> int | None:
    """Count one request on counter `name`: None when within `limit`, else the whole
    seconds until the window ends (for `Retry-After`)."""
    if limit <= 0:
        return None
    now = clock() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"api-rate:{name}:{window}"
    cache = caches[CACHE_ALIAS]
    cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    if count <= limit:
        return None
    wait = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    if count == limit + 1:
        log.warning("API rate limit reached by %s (%d/min)", name, limit)
    return wait


class RateLimit(BaseThrottle):
    """django-ninja's throttle hook around `hit` (runs after authentication)."""

    def allow_request(self, request: HttpRequest) -> bool:
        name, limit = identity(request)
        _last.wait = hit(name, limit)
        return _last.wait is None

    def wait(self) -> float | None:
        return getattr(_last, "wait", None)
