"""Bulk writes below the ORM: what COPY (PostgreSQL) or executemany (SQLite) writes reads
back through the ORM exactly, and ids written explicitly leave the sequence behind them."""

from __future__ import annotations

import datetime as dt

import pytest

from yunbao.insight.models import OrderFacts
from yunbao.insight.store import FACTS_COLUMNS
from yunbao.lib.bulk import insert_rows, next_ids, reset_sequence, sqlite_time
from yunbao.testing import World
from yunbao.workorders.models import TimelineEntry, WorkOrder

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 3, 3, 1, 2, 3, 456789, tzinfo=dt.UTC)


def test_rows_read_back_through_the_orm(world: World) -> None:
    order = WorkOrder.objects.create(number="B1", lat=23.1, lon=113.2, created_at=T0)
    local = T0.astimezone(dt.timezone(dt.timedelta(hours=8)))
    written = insert_rows(
        TimelineEntry._meta.db_table,
        ("order_id", "action", "from_status", "to_status", "role", "note", "at", "on_time", "data"),
        [
            (order.pk, "submit", "", "submitted", "system", "引号 ' and \\ tab\t", local, None, {}),
            (order.pk, "accept", "submitted", "accepted", "system", "", T0, True, {"k": [1, "二"]}),
        ],
    )
    assert written == 2
    rows = list(order.timeline.order_by("id"))
    assert [r.action for r in rows] == ["submit", "accept"]
    assert rows[0].at == T0  # an aware local time is stored as the same instant
    assert rows[0].note == "引号 ' and \\ tab\t"
    assert rows[0].on_time is None
    assert rows[1].on_time is True
    assert rows[1].data == {"k": [1, "二"]}
    counts = {"2025-03-03": {"reports": 1}}
    durations = [["2025-03-03", "total", 5]]
    insert_rows(
        OrderFacts._meta.db_table,
        FACTS_COLUMNS,
        [(order.pk, "/1/", "/1/", 0, 0, 0, "", counts, durations)],
    )
    facts = OrderFacts.objects.get(order_id=order.pk)
    assert facts.counts == counts
    assert facts.durations == durations


def test_explicit_ids_leave_the_sequence_behind_them(world: World) -> None:
    first = WorkOrder.objects.create(number="B2", lat=23.1, lon=113.2, created_at=T0)
    ids = next_ids(WorkOrder, 3)
    assert list(ids) == [first.pk + 1, first.pk + 2, first.pk + 3]
    columns = [f.column for f in WorkOrder._meta.concrete_fields if f.column]
    values: dict[str, object] = {
        f.column: f.get_default() for f in WorkOrder._meta.concrete_fields if f.column
    }
    rows = []
    for pk in ids:
        row = dict(values, id=pk, number=f"X{pk}", lat=23.1, lon=113.2)
        row.update(created_at=T0, updated_at=T0)
        rows.append([row[c] for c in columns])
    insert_rows(WorkOrder._meta.db_table, columns, rows)
    reset_sequence(WorkOrder)
    after = WorkOrder.objects.create(number="B3", lat=23.1, lon=113.2, created_at=T0)
    assert after.pk > ids[-1]
    assert WorkOrder.objects.get(pk=ids[1]).created_at == T0


def test_sqlite_times_sort_as_times() -> None:
    # SQLite compares the stored text: with and without microseconds must still sort.
    whole = sqlite_time(T0.replace(microsecond=0))
    fraction = sqlite_time(T0.replace(microsecond=500))
    next_second = sqlite_time(T0.replace(microsecond=0) + dt.timedelta(seconds=1))
    assert whole < fraction < next_second
    assert sqlite_time(T0.astimezone(dt.timezone(dt.timedelta(hours=8)))) == sqlite_time(T0)
