"""Keeping the aggregates current: the queue of moved orders, the catch-up job, the
increment upserts and `recompute()`.

Counting an order costs a few queries (its row, its timeline, its old contribution, the
upserts): about as much as the whole report that created it. So a move does not count: in
its own transaction it only marks the order dirty (`DirtyOrder`, one upsert of one row), and
the `insight-catch-up` job (every minute on the worker's schedule; `catch_up()`) recomputes
each dirty order's facts (`facts.facts_of`: the order row and its timeline), compares them
with what the order contributed before (`OrderFacts`) and applies the difference to `Cell`
and `DurationCell` in every roll-up (`CUBES`) with
`INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x` (SQLite and PostgreSQL alike). The
figures therefore trail the moves by at most a minute and then equal a full recomputation;
the mark commits with the move or not at all, so no move is ever missed, and a rolled-back
move leaves nothing to count.

`recompute()` rebuilds everything from the orders and their timelines in batches.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection, transaction

from yunbao.geo.models import Area, Level
from yunbao.insight.facts import (
    ORDER_FIELDS,
    STEP_FIELDS,
    Facts,
    OrderRow,
    Step,
    bucket_of,
    facts_of,
)
from yunbao.insight.models import MEASURES, Cell, DirtyOrder, DurationCell, Grain, OrderFacts
from yunbao.lib.bulk import insert_rows
from yunbao.workorders.events import OrderEvent
from yunbao.workorders.models import TimelineEntry, WorkOrder

log = logging.getLogger(__name__)

# (area, village, unit, scene, category, source): where an order's facts are counted.
OrderKey = tuple[str, str, int, int, int, str]
CellKey = tuple[int, date, str, int, int, int, str]
DurationKey = tuple[int, date, str, int, int, int, str, str, int]
_INDEX = {m: i for i, m in enumerate(MEASURES)}


# --- Villages ---------------------------------------------------------------------------

_levels: dict[int, tuple[str, str]] = {}
# (path, level) → ancestor path: every counted order asks for its street and district.
_ancestors: dict[tuple[str, str], str] = {}


def _load_areas() -> None:
    _levels.clear()
    _levels.update(
        {pk: (level, path) for pk, level, path in Area.objects.values_list("pk", "level", "path")}
    )


def clear_cache() -> None:
    _levels.clear()
    _ancestors.clear()


def _ids(path: str) -> list[int]:
    return [int(p) for p in path.strip("/").split("/") if p]


def level_of_path(path: str) -> str | None:
    """The level of the area whose path this is (None for an unknown path)."""
    ids = _ids(path)
    if not ids:
        return None
    if ids[-1] not in _levels:
        _load_areas()
    found = _levels.get(ids[-1])
    return found[0] if found else None


def village_of(path: str) -> str:
    """The path of the community (village) holding this area path; the path itself when it
    is above village level (an order filed under the district)."""
    ids = _ids(path)
    if any(i not in _levels for i in ids):
        _load_areas()
    for pk in ids:
        found = _levels.get(pk)
        if found and found[0] == Level.COMMUNITY:
            return found[1]
    return path


def ancestor_of(path: str, level: str) -> str:
    """The prefix of this area path that ends at its area of `level`; the path itself when
    it has none (an order filed above that level). Read from the path's own ids, so an order's
    old path still retracts exactly what it added after an area moved."""
    found = _ancestors.get((path, level))
    if found is None:
        found = _ancestors[(path, level)] = _ancestor(path, level)
    return found


def _ancestor(path: str, level: str) -> str:
    ids = _ids(path)
    if any(i not in _levels for i in ids):
        _load_areas()
    for index, pk in enumerate(ids):
        known = _levels.get(pk)
        if known and known[0] == level:
            return "/" + "/".join(str(i) for i in ids[: index + 1]) + "/"
    return path


def key_of(order: OrderRow) -> OrderKey:
    return (
        order.area_path,
        village_of(order.area_path),
        order.unit_id or 0,
        order.scene_id or 0,
        order.category_id or 0,
        order.source,
    )


# --- The roll-ups ---------------------------------------------------------------------------

DIMENSIONS: tuple[str, ...] = ("unit", "scene", "category", "source")
LEVEL_DEPTH: dict[str, int] = {
    Level.DISTRICT: 0, Level.STREET: 1, Level.COMMUNITY: 2, Level.GRID: 3,
}  # fmt: skip


@dataclass(frozen=True)
class Cube:
    """One roll-up: its rows hold the order's area at `level` and keep the dimensions in
    `keeps` (the others are 0 / ""). `durations`: whether it has duration rows too."""

    grain: int
    level: str
    keeps: frozenset[str]
    durations: bool = True

    def answers(self, level: str, needs: Iterable[str]) -> bool:
        """Whether this roll-up can sum a filter at `level` that filters or groups by
        `needs`."""
        return LEVEL_DEPTH[self.level] >= LEVEL_DEPTH[level] and self.keeps.issuperset(needs)


_ALL = frozenset(DIMENSIONS)
# Coarsest first: a reader takes the first that answers (`cube_for`). Each costs a few rows
# per order per day on the write side (the catch-up job, off the hot path); each row the
# readers skip is time on every dashboard load. The district and street × unit × source
# roll-ups compress a day's thousands of orders into tens of rows; the full key is kept at
# street and grid for filters by scene or category. There is no full key per village: it
# would hold about one row per order and day, as the grid rows do, so a village filtered by
# category reads the grid rows of its grids at the same cost.
CUBES: tuple[Cube, ...] = (
    Cube(Grain.DISTRICT, Level.DISTRICT, frozenset()),
    Cube(Grain.STREET_UNIT_SOURCE, Level.STREET, frozenset({"unit", "source"})),
    # Durations per village would barely compress (a stage's time falls in one of 31 bands,
    # so a village's day has about as many duration rows as stages ended): a village's
    # durations are read from its grid rows at the same cost.
    Cube(Grain.VILLAGE_UNIT_SOURCE, Level.COMMUNITY, frozenset({"unit", "source"}), False),
    Cube(Grain.STREET, Level.STREET, _ALL),
    Cube(Grain.GRID, Level.GRID, _ALL),
)


def cube_for(level: str, needs: Iterable[str], *, durations: bool = False) -> Cube:
    """The coarsest roll-up that answers a query at `level` filtering or grouping by
    `needs`, of durations if `durations` (the grid roll-up answers everything)."""
    wanted = frozenset(needs)
    return next(c for c in CUBES if c.answers(level, wanted) and (c.durations or not durations))


Place = tuple[int, str, int, int, int, str]


def projections(key: OrderKey) -> tuple[list[Place], list[Place]]:
    """Where an order of this key is counted, (grain, area, unit, scene, category, source)
    in every roll-up: for its counts, and for its durations."""
    area, village, unit_id, scene_id, category_id, source_value = key
    where: dict[str, str] = {
        Level.GRID: area,
        Level.COMMUNITY: village,
        Level.STREET: ancestor_of(area, Level.STREET),
        Level.DISTRICT: ancestor_of(area, Level.DISTRICT),
    }
    counts: list[Place] = []
    durations: list[Place] = []
    for cube in CUBES:
        keeps = cube.keeps
        place = (
            int(cube.grain),
            where[cube.level],
            unit_id if "unit" in keeps else 0,
            scene_id if "scene" in keeps else 0,
            category_id if "category" in keeps else 0,
            source_value if "source" in keeps else "",
        )
        counts.append(place)
        if cube.durations:
            durations.append(place)
    return counts, durations


# --- Accumulating deltas ------------------------------------------------------------------


class Accumulator:
    """Sums of cell and duration deltas, written with increment upserts by `flush()`."""

    def __init__(self) -> None:
        self.cells: dict[CellKey, list[int]] = {}
        self.durations: dict[DurationKey, list[int]] = {}

    def __len__(self) -> int:
        return len(self.cells) + len(self.durations)

    def add_counts(self, key: OrderKey, counts: dict[date, Counter[str]], sign: int) -> None:
        self._add_counts(projections(key)[0], counts, sign)

    def _add_counts(
        self,
        places: list[Place],
        counts: dict[date, Counter[str]],
        sign: int,
    ) -> None:
        cells = self.cells
        for day, measures in counts.items():
            changes = [(_INDEX[m], sign * n) for m, n in measures.items()]
            for grain, where, unit, scene, category, source in places:
                cell_key = (grain, day, where, unit, scene, category, source)
                row = cells.get(cell_key)
                if row is None:
                    row = cells[cell_key] = [0] * len(MEASURES)
                for index, n in changes:
                    row[index] += n

    def add_durations(
        self, key: OrderKey, durations: Iterable[tuple[date, str, int]], sign: int
    ) -> None:
        self._add_durations(projections(key)[1], durations, sign)

    def _add_durations(
        self,
        places: list[Place],
        durations: Iterable[tuple[date, str, int]],
        sign: int,
    ) -> None:
        table = self.durations
        for day, stage, seconds in durations:
            bucket = bucket_of(seconds)
            for grain, where, unit, scene, category, source in places:
                dkey = (grain, day, where, unit, scene, category, source, stage, bucket)
                row = table.get(dkey)
                if row is None:
                    row = table[dkey] = [0, 0]
                row[0] += sign
                row[1] += sign * seconds

    def add(self, key: OrderKey, facts: Facts, sign: int = 1) -> None:
        for_counts, for_durations = projections(key)
        self._add_counts(for_counts, facts.counts, sign)
        self._add_durations(for_durations, facts.durations, sign)

    def flush(self) -> None:
        """Write the sums (rows that cancelled out are skipped) and start again."""
        adapt = connection.ops.adapt_datefield_value
        cells: list[tuple[Any, ...]] = [
            (grain, adapt(day), *rest, *values)
            for (grain, day, *rest), values in sorted(self.cells.items())
            if any(values)
        ]
        durations: list[tuple[Any, ...]] = [
            (grain, adapt(day), *rest, *values)
            for (grain, day, *rest), values in sorted(self.durations.items())
            if any(values)
        ]
        self.cells.clear()
        self.durations.clear()
        _write(Cell._meta.db_table, _KEYS, MEASURES, _CELL_UPSERT, cells)
        _write(
            DurationCell._meta.db_table, _DURATION_KEYS, _DURATION_SUMS, _DURATION_UPSERT, durations
        )


# PostgreSQL: above this many rows, COPY into a scratch table and upsert from it in one
# statement (about 5× faster than one upsert per row for generated or imported history).
_COPY_FROM = 2000


def _write(
    table: str,
    keys: tuple[str, ...],
    sums: tuple[str, ...],
    upsert: str,
    rows: list[tuple[Any, ...]],
) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql" or len(rows) < _COPY_FROM:
        with connection.cursor() as cursor:
            cursor.executemany(upsert, rows)
        return
    scratch = f"{table}_batch"
    columns = ", ".join((*keys, *sums))
    added = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in sums)
    # Our own table and column names only; the values go through COPY.
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {scratch} AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        # Empty first too: rows a failed earlier flush left outside a transaction must not
        # be added twice.
        cursor.execute(f"TRUNCATE {scratch}")
        insert_rows(scratch, (*keys, *sums), rows)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {scratch} "  # noqa: S608
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
        )
        cursor.execute(f"TRUNCATE {scratch}")


def _upsert(table: str, keys: tuple[str, ...], values: tuple[str, ...]) -> str:
    columns = ", ".join((*keys, *values))
    marks = ", ".join(["%s"] * (len(keys) + len(values)))
    sums = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
    # Table and column names are our own constants; every value is a parameter.
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sums}"
    )


_KEYS = ("grain", "day", "area", "unit", "scene", "category", "source")
_DURATION_KEYS = (*_KEYS, "stage", "bucket")
_DURATION_SUMS = ("n", "seconds")
_CELL_UPSERT = _upsert(Cell._meta.db_table, _KEYS, MEASURES)
_DURATION_UPSERT = _upsert(DurationCell._meta.db_table, _DURATION_KEYS, _DURATION_SUMS)


# --- Reading orders ---------------------------------------------------------------------


def load(order_ids: list[int]) -> list[tuple[OrderRow, list[Step]]]:
    """The rows `facts_of` needs for these orders (two queries), in id order."""
    rows = {
        r[0]: OrderRow(*r)
        for r in WorkOrder.objects.filter(pk__in=order_ids).values_list(*ORDER_FIELDS)
    }
    steps: dict[int, list[Step]] = defaultdict(list)
    entries = (
        TimelineEntry.objects.filter(order_id__in=order_ids)
        .order_by("order_id", "at", "id")
        .values_list("order_id", *STEP_FIELDS)
    )
    for order_id, *step in entries:
        steps[order_id].append(Step(*step))
    return [(rows[pk], steps[pk]) for pk in sorted(rows)]


FACTS_COLUMNS = (
    "order_id", "area", "village", "unit", "scene", "category", "source", "counts", "durations",
)  # fmt: skip


def facts_record(order: OrderRow, key: OrderKey, facts: Facts) -> tuple[Any, ...]:
    """An order's `OrderFacts` row as values in `FACTS_COLUMNS` order."""
    counts, durations = facts.to_json()
    return (order.pk, *key, counts, durations)


def _facts_row(order: OrderRow, key: OrderKey, facts: Facts) -> OrderFacts:
    return OrderFacts(**dict(zip(FACTS_COLUMNS, facts_record(order, key, facts), strict=True)))


def save_facts(records: Iterable[tuple[Any, ...]]) -> None:
    """Write new `OrderFacts` rows (from `add_orders`) in bulk."""
    insert_rows(OrderFacts._meta.db_table, FACTS_COLUMNS, records)


def _stored(row: OrderFacts) -> tuple[OrderKey, Facts]:
    key = (row.area, row.village, row.unit, row.scene, row.category, row.source)
    facts = Facts(
        counts={date.fromisoformat(d): Counter(c) for d, c in row.counts.items()},
        durations=[(date.fromisoformat(d), s, int(n)) for d, s, n in row.durations],
    )
    return key, facts


# --- Keeping current ------------------------------------------------------------------------


def refresh_order(order_id: int) -> None:
    """Bring the aggregates up to date with one order (inside the caller's transaction)."""
    loaded = load([order_id])
    old = OrderFacts.objects.filter(order_id=order_id).first()
    acc = Accumulator()
    if old is not None:
        old_key, old_facts = _stored(old)
        acc.add(old_key, old_facts, -1)
    if not loaded:  # the order is gone: only withdraw
        if old is not None:
            old.delete()
            acc.flush()
        return
    order, steps = loaded[0]
    key = key_of(order)
    facts = facts_of(order, steps)
    row = _facts_row(order, key, facts)
    if old is not None and (
        (old.area, old.village, old.unit, old.scene, old.category, old.source) == key
        and old.counts == row.counts
        and old.durations == row.durations
    ):
        return  # nothing this move changed counts (an arrival, an assignment …)
    acc.add(key, facts, +1)
    acc.flush()
    row.save()


_DIRTY = DirtyOrder._meta.db_table
_MARK = (
    f"INSERT INTO {_DIRTY} (order_id, version) VALUES (%s, 1) "  # noqa: S608
    f"ON CONFLICT (order_id) DO UPDATE SET version = {_DIRTY}.version + 1"
)


def on_order_event(event: OrderEvent) -> None:
    """Mark the moved order for counting, inside the move's transaction (plain SQL: this
    runs on every move, the hot path of every report)."""
    with connection.cursor() as cursor:
        cursor.execute(_MARK, [event.order_id])


def catch_up(*, batch: int = 500, limit: int | None = None) -> int:
    """Count the orders marked dirty; returns how many were counted.

    Each batch is one transaction: the dirty orders are recounted, then their marks are
    deleted only where the version is still the one read, so an order moved again meanwhile
    stays queued for the next round instead of being forgotten.
    """
    done = 0
    while limit is None or done < limit:
        with transaction.atomic():
            marks = list(
                DirtyOrder.objects.order_by("order_id").values_list("order_id", "version")[:batch]
            )
            if not marks:
                break
            for order_id, _version in marks:
                refresh_order(order_id)
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"DELETE FROM {_DIRTY} WHERE order_id = %s AND version = %s",  # noqa: S608
                    marks,
                )
        done += len(marks)
    return done


def recompute(*, batch: int = 5000, progress: Callable[[str], None] | None = None) -> int:
    """Rebuild every aggregate and order record from the orders and their timelines, in one
    transaction (readers see the old figures until it commits). Returns the orders read."""
    done = 0
    with transaction.atomic():
        Cell.objects.all().delete()
        DurationCell.objects.all().delete()
        OrderFacts.objects.all().delete()
        # Everything is counted below; moves committed after this point mark again.
        DirtyOrder.objects.all().delete()
        clear_cache()
        acc = Accumulator()
        last = 0
        while True:
            ids = list(
                WorkOrder.objects.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            last = ids[-1]
            save_facts(add_orders(acc, load(ids)))
            done += len(ids)
            if len(acc) > 200_000:
                acc.flush()
            if progress:
                progress(f"recomputed {done:,} orders")
        acc.flush()
    return done


def add_orders(
    acc: Accumulator, loaded: Iterable[tuple[OrderRow, list[Step]]]
) -> list[tuple[Any, ...]]:
    """Add these orders' facts to `acc`; returns their `OrderFacts` rows (for `save_facts`)."""
    records = []
    for order, steps in loaded:
        key = key_of(order)
        facts = facts_of(order, steps)
        acc.add(key, facts)
        records.append(facts_record(order, key, facts))
    return records
