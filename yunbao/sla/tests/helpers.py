"""Orders on a controlled clock for the time-limit tests.

The world's category E9901 gives every stage 2 natural hours, so an order dispatched at
`T` is due at T + 2 h, warned at T + 96 min (80 %), escalated at T + 2 h and again at
T + 3 h (a further 50 % of the limit).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder

SH = ZoneInfo("Asia/Shanghai")
# A Monday in March 2026: an ordinary working week, far from any holiday.
T = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
WARN = T + timedelta(minutes=96)
DUE = T + timedelta(hours=2)
ESC2 = T + timedelta(hours=3)
SECOND = timedelta(seconds=1)


def submitted(world: Any, at: datetime = T, street: int = 1) -> WorkOrder:
    lat, lon = world.point1() if street == 1 else world.point2()
    return actions.submit(
        actor=world.users["erin"],
        lat=lat,
        lon=lon,
        description="路边有垃圾",
        category=world.category,
        at=at,
    )


def dispatched(
    world: Any, at: datetime = T, *, worker: str | None = "bob", street: int = 1
) -> WorkOrder:
    """An order dispatched at `at` (reported 10 and accepted 5 minutes before)."""
    order = submitted(world, at - timedelta(minutes=10), street)
    actions.accept(order, actor=None, at=at - timedelta(minutes=5))
    unit = world.unit1 if street == 1 else world.unit2
    actions.dispatch(
        order,
        actor=None,
        unit=unit,
        worker=world.users[worker] if worker else None,
        at=at,
    )
    return order


def fresh(order: WorkOrder) -> WorkOrder:
    return WorkOrder.objects.get(pk=order.pk)
