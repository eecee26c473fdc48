"""The REST API under /api/v1/ (django-ninja, OpenAPI 3), its tokens and its webhooks.

`from yunbao.api import api` gives the one `NinjaAPI` (built in `yunbao.api.main`). It is
imported lazily: this package is also a Django app (API tokens, webhook subscriptions), and
Django imports the app package before its models may be used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["api"]


def __getattr__(name: str) -> Any:
    if name == "api":
        from yunbao.api.main import api

        return api
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
