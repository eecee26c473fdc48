"""A short-lived per-process cache of active categories, with their limits and scenes.

Every report looks up its category, the category's time limits and its first scene; the
catalogue changes a few times a year, so each process keeps it for `TTL` seconds instead of
asking the database three times per report. An edit in the admin applies within `TTL`.
"""

from __future__ import annotations

import threading
import time

from yunbao.catalog.models import Category

TTL = 30.0
_lock = threading.Lock()
_loaded_at = 0.0
_by_code: dict[str, Category] = {}


def active_category(code: str) -> Category | None:
    """The active category with this code (time limits and scenes prefetched), or None."""
    global _loaded_at, _by_code
    now = time.monotonic()
    if now - _loaded_at > TTL:
        with _lock:
            if now - _loaded_at > TTL:
                categories = Category.objects.filter(active=True).prefetch_related(
                    "time_limits", "scenes"
                )
                _by_code = {c.code: c for c in categories}
                _loaded_at = time.monotonic()
    return _by_code.get(code)


def first_scene(category: Category) -> object | None:
    """The category's first scene by order, from the prefetched scenes."""
    scenes = sorted(category.scenes.all(), key=lambda s: (s.sort, s.code))
    return scenes[0] if scenes else None


def clear() -> None:
    """Forget the cache (after loading the catalogue, and between tests)."""
    global _loaded_at
    _loaded_at = 0.0
