"""A stage's time limit: the category's own row, or the documented default."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from yunbao.catalog.limits import DEFAULT_LIMITS, time_limit
from yunbao.catalog.models import Category, Kind, Stage, TimeLimit, TimeUnit, Urgency

pytestmark = pytest.mark.django_db


def test_it_reads_the_categorys_own_limit() -> None:
    barbecue = Category.objects.get(code="E0510")
    assert time_limit(barbecue, Stage.HANDLE, Urgency.NORMAL) == (
        Decimal(2),
        TimeUnit.NATURAL_HOURS,
    )
    amount, unit = time_limit(Category.objects.get(code="C0118"), "handle", "normal")
    assert (amount, unit) == (Decimal(1), TimeUnit.WORKING_DAYS)
    assert isinstance(unit, TimeUnit)


def test_it_falls_back_to_the_defaults_without_a_category() -> None:
    for stage in Stage.values:
        for urgency in Urgency.values:
            assert time_limit(None, stage, urgency) == DEFAULT_LIMITS[stage][urgency]
    assert time_limit(None, Stage.ACCEPT, Urgency.NORMAL) == (
        Decimal("0.5"),
        TimeUnit.NATURAL_HOURS,
    )


def test_it_falls_back_for_a_category_without_that_row() -> None:
    category = Category.objects.create(
        code="E0697", kind=Kind.EVENT, major_code="06", major_name="扩展事件", minor_code="97",
        name="新事件",
    )  # fmt: skip
    TimeLimit.objects.create(
        category=category, stage=Stage.HANDLE, urgency=Urgency.NORMAL, amount=Decimal(3),
        unit=TimeUnit.WORKING_DAYS,
    )  # fmt: skip
    assert time_limit(category, Stage.HANDLE, Urgency.NORMAL) == (3, TimeUnit.WORKING_DAYS)
    assert time_limit(category, Stage.HANDLE, Urgency.URGENT) == DEFAULT_LIMITS["handle"]["urgent"]


def test_it_needs_no_query_once_limits_are_prefetched(django_assert_num_queries: Any) -> None:
    categories = list(Category.objects.prefetch_related("time_limits")[:20])
    with django_assert_num_queries(0):
        for category in categories:
            for stage in Stage.values:
                for urgency in Urgency.values:
                    amount, _unit = time_limit(category, stage, urgency)
                    assert amount > 0


@pytest.mark.parametrize(("stage", "urgency"), [("repair", "normal"), ("handle", "asap")])
def test_it_rejects_an_unknown_stage_or_urgency(stage: str, urgency: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        time_limit(None, stage, urgency)
