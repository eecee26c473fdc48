"""Deadlines in working time at the edges: working-hour boundaries, a weekend, a holiday and
its adjusted workdays (调休), set through the real moves (working hours 08:30-12:00,
14:00-17:30, the default). Complements yunbao/workorders/tests/test_deadlines.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from yunbao.catalog.models import Stage, TimeLimit, TimeUnit
from yunbao.sla.state import DUE_SOON, OK, sla_state
from yunbao.sla.tests.helpers import SH
from yunbao.workorders import actions


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.YUNBAO_WORKING_HOURS = "08:30-12:00,14:00-17:30"
    settings.YUNBAO_SLA_WARN_SHARE = 0.8
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = False


def handle_due(world: Any, dispatched: datetime, amount: str, unit: str) -> datetime:
    TimeLimit.objects.filter(category=world.category, stage=Stage.HANDLE).update(
        amount=Decimal(amount), unit=unit
    )
    lat, lon = world.point1()
    order = actions.submit(
        actor=world.users["erin"],
        lat=lat,
        lon=lon,
        category=world.category,
        at=dispatched - timedelta(minutes=10),
    )
    actions.accept(order, actor=None, at=dispatched - timedelta(minutes=5))
    actions.dispatch(order, actor=None, unit=world.unit1, worker=world.users["bob"], at=dispatched)
    assert order.handle_due is not None
    return order.handle_due


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


WH, WD, NH = TimeUnit.WORKING_HOURS, TimeUnit.WORKING_DAYS, TimeUnit.NATURAL_HOURS


@pytest.mark.parametrize(
    ("dispatched", "amount", "unit", "expected"),
    [
        # Friday 16:00 + 4 working hours: 1.5 h on Friday, 2.5 h from Monday 08:30.
        (local(2026, 3, 6, 16, 0), "4", WH, local(2026, 3, 9, 11, 0)),
        # Dispatched over lunch: the clock starts at 14:00.
        (local(2026, 3, 9, 12, 30), "1", WH, local(2026, 3, 9, 15, 0)),
        # Dispatched at the end of the day: the clock starts next morning.
        (local(2026, 3, 9, 17, 30), "1", WH, local(2026, 3, 10, 9, 30)),
        # Dispatched before work: from 08:30.
        (local(2026, 3, 9, 7, 0), "1", WH, local(2026, 3, 9, 9, 30)),
        # A deadline that falls on the end of a morning stays at 12:00, not 14:00.
        (local(2026, 3, 9, 10, 0), "2", WH, local(2026, 3, 9, 12, 0)),
        # Crossing lunch: 1 h before noon, 1 h after 14:00.
        (local(2026, 3, 9, 11, 0), "2", WH, local(2026, 3, 9, 15, 0)),
        # National Day 2026 (Oct 1-7 off): 2 working days = 14 h from Sep 30 16:00 are
        # 1.5 h on Sep 30, 7 h on Oct 8, 5.5 h on Oct 9.
        (local(2026, 9, 30, 16, 0), "2", WD, local(2026, 10, 9, 16, 0)),
        # Saturday Oct 10, 2026 is an adjusted working day after National Day.
        (local(2026, 10, 9, 16, 0), "4", WH, local(2026, 10, 10, 11, 0)),
        # Sunday Sep 20, 2026 is an adjusted working day before it: from Saturday, Sunday.
        (local(2026, 9, 19, 10, 0), "1", WH, local(2026, 9, 20, 9, 30)),
        # Mid-Autumn 2026 (Fri Sep 25) and the weekend: Thursday 17:00 → Monday 09:00.
        (local(2026, 9, 24, 17, 0), "1", WH, local(2026, 9, 28, 9, 0)),
        # Natural hours ignore all of it.
        (local(2026, 3, 6, 16, 0), "4", NH, local(2026, 3, 6, 20, 0)),
    ],
)
def test_the_deadline_counts_working_time_across_boundaries_and_holidays(
    world: Any, dispatched: datetime, amount: str, unit: str, expected: datetime
) -> None:
    assert handle_due(world, dispatched, amount, unit) == expected


def test_the_state_before_a_holiday_deadline_is_ok_then_due_soon(world: Any) -> None:
    """1 working day from Sep 30 16:00 is Oct 8 16:00; the warning point is 80 % of the
    limit in working time (0.8 working day: 1.5 h on Sep 30, the rest on Oct 8), so the
    order stays fine through the whole holiday and the morning after it."""
    handle_due(world, local(2026, 9, 30, 16, 0), "1", WD)
    from yunbao.workorders.models import WorkOrder

    order = WorkOrder.objects.get()
    assert order.handle_due == local(2026, 10, 8, 16, 0)
    assert order.warn_at == local(2026, 10, 8, 14, 36)
    assert sla_state(order, local(2026, 10, 1, 9, 0)).level == OK  # type: ignore[union-attr]
    assert sla_state(order, local(2026, 10, 8, 9, 0)).level == OK  # type: ignore[union-attr]
    assert sla_state(order, local(2026, 10, 8, 14, 36)).level == DUE_SOON  # type: ignore[union-attr]


def test_the_warning_point_of_a_working_hour_limit_skips_the_weekend(world: Any) -> None:
    """4 working hours from Friday 16:00: 1.5 h on Friday, the rest on Monday (due 11:00);
    80 % of the limit is 3.2 working hours, Monday 10:12, not a moment over the weekend."""
    handle_due(world, local(2026, 3, 6, 16, 0), "4", WH)
    from yunbao.workorders.models import WorkOrder

    order = WorkOrder.objects.get()
    assert order.handle_due == local(2026, 3, 9, 11, 0)
    assert order.warn_at == local(2026, 3, 9, 10, 12)
    for moment in (local(2026, 3, 7, 12, 0), local(2026, 3, 8, 22, 0), local(2026, 3, 9, 10, 11)):
        assert sla_state(order, moment).level == OK  # type: ignore[union-attr]
    assert sla_state(order, local(2026, 3, 9, 10, 12)).level == DUE_SOON  # type: ignore[union-attr]
