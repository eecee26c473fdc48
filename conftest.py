"""Shared pytest fixtures: the named world of `yunbao.testing` (two streets, people per role)
and the default language at the start of every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from yunbao.testing import World, build_world


@pytest.fixture
def world(db: Any) -> World:
    return build_world()


@pytest.fixture(autouse=True)
def _fresh_catalog_cache() -> Iterator[None]:
    # Each test builds its own categories; a process-wide cache must not carry old rows.
    from yunbao.catalog import cache
    from yunbao.dispatch import classifier, policy

    cache.clear()
    classifier.invalidate_cache()
    policy.clear_caches()
    yield
    cache.clear()
    classifier.invalidate_cache()
    policy.clear_caches()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    # Every test starts in the default language (settings.LANGUAGE_CODE): LocaleMiddleware
    # leaves a request's language active in the thread, which would leak into later tests.
    translation.deactivate()
    yield
    translation.deactivate()
