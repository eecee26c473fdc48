"""Each test starts with an empty area cache: test databases reuse ids after a rollback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from yunbao.insight.store import clear_cache


@pytest.fixture(autouse=True)
def _fresh_area_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()
