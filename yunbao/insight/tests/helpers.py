"""Helpers for the insight tests: a clock in local time and a snapshot of the aggregates."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from yunbao.insight.models import MEASURES, Cell, DurationCell
from yunbao.insight.store import catch_up
from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2025, 3, 3)


def at(hour: int, minute: int = 0, *, day: dt.date = MONDAY) -> dt.datetime:
    """A moment in local time (Asia/Shanghai)."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


def report_at(world: Any, when: dt.datetime, *, street: int = 1, **kw: Any) -> WorkOrder:
    lat, lon = world.point1() if street == 1 else world.point2()
    return actions.submit(
        actor=world.users[kw.pop("reporter", "erin")],
        lat=lat,
        lon=lon,
        description="路边有垃圾",
        category=world.category,
        at=when,
        **kw,
    )


def aggregates() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every non-empty aggregate row, sorted, once the catch-up job has counted every move:
    what a recomputation must reproduce."""
    catch_up()
    key = ("grain", "day", "area", "unit", "scene", "category", "source")
    cells = sorted(row for row in Cell.objects.values_list(*key, *MEASURES) if any(row[len(key) :]))
    durations = sorted(
        row
        for row in DurationCell.objects.values_list(*key, "stage", "bucket", "n", "seconds")
        if row[-2] or row[-1]
    )
    return cells, durations
