"""Fixtures of the geo tests: a clean locate cache and a small synthetic district."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from yunbao.geo.locate import invalidate_cache
from yunbao.geo.models import Area
from yunbao.geo.synthetic import build_district, build_town
from yunbao.geo.tests.helpers import SOUTH, WEST


@pytest.fixture(autouse=True)
def _fresh_locate_cache() -> Iterator[None]:
    # Each test's rows are rolled back, which no fingerprint check can be relied on to see
    # within GEO_CACHE_SECONDS, so no test may inherit another's index.
    invalidate_cache()
    yield
    invalidate_cache()


@pytest.fixture
def district(db: None) -> Area:
    return build_district(
        "440399", "云报区", "Yunbao District", "demo.yunbao.org", (22.5, 113.9, 22.6, 114.0)
    )


@pytest.fixture
def town(district: Area) -> Area:
    return build_town(
        district=district,
        code="440399001",
        name="云报街道",
        name_en="Yunbao Street",
        south=SOUTH,
        west=WEST,
        rows=4,
        cols=4,
        cell_m=100,
        communities=(2, 2),
    )
