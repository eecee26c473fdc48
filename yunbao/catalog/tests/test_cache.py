"""The per-process category cache: fast lookups, fresh after clear() or its TTL."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from yunbao.catalog import cache
from yunbao.catalog.models import Category


def test_it_answers_from_memory_after_the_first_lookup(world: Any) -> None:
    assert cache.active_category(world.category.code) == world.category
    with CaptureQueriesContext(connection) as queries:
        category = cache.active_category(world.category.code)
        assert category is not None
        limits = list(category.time_limits.all())
        scene = cache.first_scene(category)
    assert len(queries) == 0
    assert len(limits) == 8
    assert scene is not None


def test_it_hides_inactive_categories_and_sees_changes_after_clear(world: Any) -> None:
    assert cache.active_category("E9901") is not None
    Category.objects.filter(code="E9901").update(active=False)
    assert cache.active_category("E9901") is not None  # still cached
    cache.clear()
    assert cache.active_category("E9901") is None
    assert cache.active_category("NOPE") is None


@pytest.mark.django_db
def test_it_reloads_after_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    assert cache.active_category("E9988") is None
    Category.objects.create(
        code="E9988", kind="event", major_code="99", major_name="测", minor_code="88", name="新类"
    )
    assert cache.active_category("E9988") is None
    clock[0] += cache.TTL + 1
    assert cache.active_category("E9988") is not None
