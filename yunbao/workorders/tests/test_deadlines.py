"""Order deadlines follow the category's limits in working time, across official holidays."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from yunbao.catalog.models import Stage, TimeLimit, TimeUnit, Urgency
from yunbao.workorders import actions

SH = ZoneInfo("Asia/Shanghai")


def set_limit(world: Any, stage: str, amount: str, unit: str) -> None:
    TimeLimit.objects.filter(category=world.category, stage=stage).update(
        amount=Decimal(amount), unit=unit
    )


@pytest.mark.parametrize(
    ("dispatched", "amount", "unit", "expected"),
    [
        # 2026 National Day: Oct 1–7 off; Thursday Oct 8 is the next working day.
        (datetime(2026, 9, 30, 16, 0), "1", TimeUnit.WORKING_DAYS, datetime(2026, 10, 8, 16, 0)),
        # 2026 Spring Festival: Feb 15–23 off; Saturday Feb 14 is an adjusted working day, so
        # half an hour is left on Friday and 1.5 h counts from 08:30 on Saturday.
        (datetime(2026, 2, 13, 17, 0), "2", TimeUnit.WORKING_HOURS, datetime(2026, 2, 14, 10, 0)),
        # 2025 National Day: Oct 1–8 off, Saturday Oct 11 is an adjusted working day.
        (datetime(2025, 9, 30, 17, 0), "1", TimeUnit.WORKING_HOURS, datetime(2025, 10, 9, 9, 0)),
        # Natural hours run through the holiday.
        (datetime(2026, 9, 30, 16, 0), "24", TimeUnit.NATURAL_HOURS, datetime(2026, 10, 1, 16, 0)),
    ],
)
def test_it_counts_the_handling_deadline_in_working_time(
    world: Any, dispatched: datetime, amount: str, unit: str, expected: datetime
) -> None:
    set_limit(world, Stage.HANDLE, amount, unit)
    lat, lon = world.point1()
    start = dispatched.replace(tzinfo=SH)
    order = actions.submit(
        actor=world.users["erin"],
        lat=lat,
        lon=lon,
        category=world.category,
        at=start.replace(hour=8, minute=0),
    )
    actions.accept(order, actor=None, at=start.replace(hour=8, minute=5))
    actions.dispatch(order, actor=None, unit=world.unit1, worker=world.users["bob"], at=start)
    assert order.handle_due == expected.replace(tzinfo=SH)
    assert order.urgency == Urgency.NORMAL
