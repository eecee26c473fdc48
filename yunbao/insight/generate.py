"""Realistic order history for benchmarks and demos: `yunbao generate-orders --count N`.

A generator of *history*, not a way orders are made: it writes orders and their timeline
rows straight into the tables below the ORM (`yunbao.lib.bulk`: COPY on PostgreSQL,
`executemany` on SQLite; no actions, no events, no locks), which is what makes a million
orders take minutes instead of hours. The rows are what the actions
would have left: statuses reached through legal moves only, stage times and deadlines
consistent, on-time flags = move time ≤ deadline, the suspended time added to the running
deadline on resume. Deadlines use each category's limits taken as natural time (a working
day = 24 h): the calendar is what makes real deadlines slow to compute, and a benchmark
does not need holidays. Merged orders have no `duplicate_of`.

Over the grids present (the demo district, the test world), or a synthetic district of
three towns when there are none; the active categories (the shipped catalogue) and units
(four are created when there are none). The mix: sources (residents half, inspectors, the
hotline, Open311), a long tail of categories, daytime reports; about 4 % rejected, 3 %
merged, 2 % voided, 3 % returned once, 4 % suspended for one to five days, 8 % reworked
(a fifth of them twice), a tenth of the stages late, 60 % of closed orders rated; the
newest orders still open in every stage.

The new orders' facts go into the aggregates with the same functions `recompute()` uses
(`store.add_orders`), so the figures equal a recomputation (a test checks it).

Everything is one transaction. On PostgreSQL the rows are COPY text built here
(`loading.line`) and written by a second thread (`loading.Writer`) while Python builds the
next batch; the aggregate sums go to scratch tables and are added to `Cell` and
`DurationCell` by the server in a few large upserts (`_merge`); from `SET_ASIDE_FROM` orders
on, the filled tables' non-unique indexes and foreign keys are built after the rows
(`loading.set_aside`). The rows and figures are those of the plain path for the same seed
and `now` (checked against the row-by-row version of this module when it changed): only the
way they are written differs.
"""

from __future__ import annotations

import random
import time
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from yunbao.catalog.models import Category, TimeLimit, TimeUnit
from yunbao.geo.locate import h3_cell
from yunbao.geo.models import Area, Level
from yunbao.insight.facts import ORDER_FIELDS, OrderRow, Step
from yunbao.insight.loading import NULL, Writer, field, line, set_aside, text
from yunbao.insight.models import MEASURES, Cell, DurationCell, OrderFacts
from yunbao.insight.store import (
    _DURATION_KEYS,
    _DURATION_SUMS,
    _KEYS,
    FACTS_COLUMNS,
    Accumulator,
    add_orders,
    ancestor_of,
    clear_cache,
    save_facts,
    village_of,
)
from yunbao.lib.bulk import insert_rows, next_ids, reset_sequence
from yunbao.org.models import Unit, UnitKind
from yunbao.workorders.models import Source, Status, TimelineEntry, WorkOrder

H = 3600.0
# Plain values (not the choices): they go into COPY text as they are.
SOURCES = tuple(
    s.value for s in (Source.RESIDENT, Source.INSPECTOR, Source.HOTLINE, Source.OPEN311)
)
SOURCES_WEIGHTS = (50, 30, 15, 5)
RATINGS = (1, 2, 3, 4, 5)
RATING_WEIGHTS = (3, 4, 10, 30, 53)
# Reports by local hour of day: few at night, most in the morning and late afternoon.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 9, 8, 6, 7, 8, 9, 9, 8, 6, 5, 4, 3, 2, 1)
ENTRY_COLUMNS = (
    "order_id", "action", "from_status", "to_status", "actor_id", "role", "note", "at",
    "on_time", "data",
)  # fmt: skip
DEFAULT_HOURS = {"accept": 0.5, "dispatch": 0.5, "handle": 24.0, "check": 2.0}


@dataclass
class Place:
    pk: int
    path: str
    south: float
    west: float
    north: float
    east: float


def _hours(amount: Decimal, unit: str) -> float:
    return float(amount) * (24 if unit == TimeUnit.WORKING_DAYS else 1)


def _world(rng: random.Random, progress: Callable[[str], None]) -> dict[str, Any]:
    grids = [
        Place(*row)
        for row in Area.objects.filter(level=Level.GRID).values_list(
            "pk", "path", "min_lat", "min_lon", "max_lat", "max_lon"
        )
    ]
    if not grids:
        from yunbao.geo.synthetic import build_district, build_town

        progress("no grids: building a synthetic district of three towns…")
        district = build_district(
            "990300", "生成区", "Generated District", "generated.yunbao.org",
            (23.0, 113.0, 23.3, 113.4),
        )  # fmt: skip
        for k in range(3):
            build_town(
                district=district,
                code=f"99030000{k + 1}",
                name=f"生成镇{k + 1}",
                name_en=f"Generated Town {k + 1}",
                south=23.02 + 0.08 * k,
                west=113.02,
                rows=20,
                cols=20,
                cell_m=150,
                communities=(3, 3),
            )
        clear_cache()
        return _world(rng, progress)
    categories = list(Category.objects.filter(active=True).prefetch_related("scenes"))
    if not categories:
        raise RuntimeError("no active categories: load the catalogue first (load-catalog)")
    rng.shuffle(categories)
    units = list(Unit.objects.filter(active=True).order_by("pk"))
    if not units:
        units = [
            Unit.objects.create(code=f"gen-{kind}", name=f"生成{kind}", kind=kind)
            for kind in (
                UnitKind.SANITATION,
                UnitKind.GREENING,
                UnitKind.ENFORCEMENT,
                UnitKind.UTILITY,
            )
        ]
    limits: dict[tuple[int, str], float] = {}
    for category_id, stage, amount, unit in TimeLimit.objects.filter(urgency="normal").values_list(
        "category_id", "stage", "amount", "unit"
    ):
        limits[(category_id, stage)] = _hours(amount, unit)
    return {
        "grids": grids,
        "categories": [
            (
                c.pk,
                min((s.sort, s.code, s.pk) for s in c.scenes.all())[2] if c.scenes.all() else None,
                {
                    st: limits.get((c.pk, st), DEFAULT_HOURS[st]) * H
                    for st in ("accept", "dispatch", "handle", "check")
                },
            )
            for c in categories
        ],
        # A long tail: the k-th category is reported about 1/(k+1) as often as the first.
        "category_weights": [1 / (k + 1) for k in range(len(categories))],
        "units": [u.pk for u in units],
    }


class _Life:
    """One order's history, built move by move until it reaches `now`."""

    def __init__(self, created: datetime, limits: dict[str, float], now: datetime) -> None:
        self.t = created
        self.now = now
        self.limits = limits
        self.status: str = Status.SUBMITTED
        self.steps: list[tuple[str, str, str, datetime, bool | None]] = [
            ("submit", "", Status.SUBMITTED, created, None)
        ]
        self.fields: dict[str, Any] = {
            "accept_due": created + timedelta(seconds=limits["accept"]),
            "rework_count": 0,
        }

    def wait(self, rng: random.Random, stage: str, late_share: float = 0.1) -> bool:
        """Let the time a stage takes pass: mostly well within its limit, `late_share` of
        the time past it. False when that would be after now (the order stays here)."""
        limit = self.limits.get(stage, H)
        if rng.random() < late_share:
            seconds = limit * (1 + rng.expovariate(1.5))
        else:
            seconds = limit * min(0.98, rng.betavariate(2, 5))
        return self.advance(seconds)

    def advance(self, seconds: float) -> bool:
        moment = self.t + timedelta(seconds=max(1.0, seconds))
        if moment > self.now:
            return False
        self.t = moment
        return True

    def move(self, action: str, to: str, *, due: str | None = None) -> None:
        on_time = None if due is None else self.t <= self.fields[due]
        self.steps.append((action, self.status, to, self.t, on_time))
        self.status = to

    def start_clock(self, stage: str, due: str) -> None:
        self.fields[due] = self.t + timedelta(seconds=self.limits[stage])


def _life(
    rng: random.Random, created: datetime, limits: dict[str, float], unit: int, now: datetime
) -> _Life:
    life = _Life(created, limits, now)
    f = life.fields
    roll = rng.random()
    if not life.wait(rng, "accept"):
        return life
    if roll < 0.04:
        life.move("reject", Status.REJECTED, due="accept_due")
        return life
    if roll < 0.07:
        life.move("merge", Status.MERGED)
        return life
    life.move("accept", Status.ACCEPTED, due="accept_due")
    f["accepted_at"] = life.t
    life.start_clock("dispatch", "dispatch_due")
    if roll < 0.09:
        if life.advance(rng.uniform(0.2, 3) * H):
            life.move("void", Status.VOIDED)
        return life
    returns = 1 if roll < 0.12 else 0
    suspends = roll > 0.96
    reworks = 0
    if rng.random() < 0.08:
        reworks = 2 if rng.random() < 0.2 else 1
    while True:
        if not life.wait(rng, "dispatch"):
            return life
        life.move("dispatch", Status.DISPATCHED, due="dispatch_due")
        f["dispatched_at"] = life.t
        f["unit_id"] = unit
        life.start_clock("handle", "handle_due")
        if not returns:
            break
        returns -= 1
        if not life.advance(rng.uniform(0.1, 2) * H):
            return life
        life.move("return", Status.ACCEPTED)
        f["unit_id"] = None
        f["accepted_at"] = life.t
        life.start_clock("dispatch", "dispatch_due")
    while True:
        if not life.advance(life.limits["handle"] * rng.uniform(0.02, 0.1)):
            return life
        life.move("start", Status.IN_PROGRESS)
        f["started_at"] = life.t
        if suspends:
            suspends = False
            if not life.advance(rng.uniform(0.1, 0.3) * life.limits["handle"]):
                return life
            life.move("suspend", Status.SUSPENDED)
            f["suspended_from"], f["suspended_at"] = Status.IN_PROGRESS, life.t
            since = life.t
            if not life.advance(rng.uniform(1, 5) * 24 * H):
                return life
            life.move("resume", Status.IN_PROGRESS)
            f["handle_due"] += life.t - since
            f["suspended_from"], f["suspended_at"] = "", None
        if not life.wait(rng, "handle", 0.12):
            return life
        life.move("finish", Status.HANDLED, due="handle_due")
        f["handled_at"] = life.t
        life.start_clock("check", "check_due")
        if not life.wait(rng, "check"):
            return life
        if not reworks:
            break
        reworks -= 1
        life.move("rework", Status.DISPATCHED, due="check_due")
        f["rework_count"] += 1
        f["dispatched_at"] = life.t
        life.start_clock("handle", "handle_due")
    life.move("verify", Status.CLOSED, due="check_due")
    f["closed_at"] = life.t
    if rng.random() < 0.6 and life.advance(rng.uniform(0.5, 48) * H):
        f["rating"] = RATINGS[_RATING(rng)]
        life.move("rate", Status.CLOSED)
    return life


# `facts.OrderRow`'s fields, as the order table's columns.
ORDER_ROW_COLUMNS = tuple("id" if f == "pk" else f for f in ORDER_FIELDS)
# From this many orders on, a PostgreSQL run sets the non-unique indexes and foreign keys of
# the tables it fills aside and builds them again at the end (`loading.set_aside`): their
# upkeep row by row was most of the COPYs' server time (50,000 orders: 5.2 s of timeline
# COPY with them, 1.5 s without), while a build is one sort per index. A build also reads
# the rows already there, so a small run into a big database would lose.
SET_ASIDE_FROM = 200_000
# Aggregate rows summed in memory before they are written (about 550 bytes each in Python).
# The grid roll-ups hold about one row per order and day, so a larger dictionary saves
# little: most rows are new anyway.
FLUSH_AT = 500_000
# Scratch rows (PostgreSQL) summed into the aggregates at once by the server, in the writer
# thread while Python goes on; the last merge is what is left for the end. Fewer merges
# update fewer rows twice.
MERGE_AT = 1_000_000
# Statuses as plain text for the timeline's COPY lines.
_PLAIN: dict[str, str] = {"": "", **{s: s.value for s in Status}}
_FLAG = {None: NULL, True: "t", False: "f"}


class _Picker:
    """`rng.choices(range(n), weights)[0]` with the cumulative weights computed once: the
    same draw (one `random()`, the same bisection) without summing the weights per call."""

    def __init__(self, weights: Sequence[float]) -> None:
        self.cumulative = list(accumulate(weights))
        self.total = self.cumulative[-1] + 0.0
        self.hi = len(self.cumulative) - 1

    def __call__(self, rng: random.Random) -> int:
        return bisect(self.cumulative, rng.random() * self.total, 0, self.hi)


_RATING = _Picker(RATING_WEIGHTS)


def _warm_areas(grids: list[Place]) -> None:
    """Fill the area caches `key_of` reads, so that no query is needed while the writer
    thread holds the connection."""
    for grid in grids:
        village_of(grid.path)
        ancestor_of(grid.path, Level.STREET)
        ancestor_of(grid.path, Level.DISTRICT)


def _cell_lines(cells: dict[Any, list[int]]) -> str:
    """The accumulated rows that did not cancel out, as COPY text (keys, then sums). The
    key's texts are ours (area paths, sources, stages: no tab, no backslash) but for the
    area's, checked all the same; sources are plain values here (`SOURCES`)."""
    tab = "\t"
    return "".join(
        [
            f"{tab.join(map(str, key[:2]))}\t{text(key[2])}\t{tab.join(map(str, key[3:]))}\t"
            f"{tab.join(map(str, values))}\n"
            for key, values in cells.items()
            if any(values)
        ]
    )


# The aggregate tables, their keys and their sums (those of `store._write`).
_AGGREGATES: tuple[tuple[type[Model], tuple[str, ...], tuple[str, ...]], ...] = (
    (Cell, _KEYS, MEASURES),
    (DurationCell, _DURATION_KEYS, _DURATION_SUMS),
)


def _scratch(table: str) -> str:
    return f"{table}_generated"


def _open_scratch(writer: Writer) -> None:
    """A temporary table per aggregate table for the sums of the run (no index, no WAL)."""
    for model, keys, sums in _AGGREGATES:
        table = model._meta.db_table
        # Our own table and column names only.
        writer.execute(
            "scratch",
            f"DROP TABLE IF EXISTS {_scratch(table)}",
            f"CREATE TEMP TABLE {_scratch(table)} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {', '.join((*keys, *sums))} FROM {table} WITH NO DATA",
        )


def _flush(acc: Accumulator, writer: Writer | None) -> int:
    """Write the accumulated sums and empty `acc`: with `Accumulator.flush` on SQLite; on
    PostgreSQL appended to the scratch tables by the writer thread (`_merge` adds them to
    the aggregates). Returns the rows written."""
    if writer is None:
        n = len(acc)
        acc.flush()
        return n
    n = 0
    pending: tuple[dict[Any, list[int]], ...] = (acc.cells, acc.durations)
    for (model, keys, sums), rows in zip(_AGGREGATES, pending, strict=True):
        n += len(rows)
        data = _cell_lines(rows)
        rows.clear()
        writer.copy(_scratch(model._meta.db_table), (*keys, *sums), data)
    return n


def _merge(writer: Writer) -> None:
    """Add the scratch tables' sums to the aggregates: summed per key by the server, then
    the increment upsert of `store._write` (the same sums, one statement), in key order for
    the unique index's sake."""
    for model, keys, sums in _AGGREGATES:
        table, scratch = model._meta.db_table, _scratch(model._meta.db_table)
        key_list = ", ".join(keys)
        added = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in sums)
        # Our own table and column names only.
        writer.execute(
            f"upsert {table}",
            f"INSERT INTO {table} ({key_list}, {', '.join(sums)}) "  # noqa: S608
            f"SELECT {key_list}, {', '.join(f'SUM({v})' for v in sums)} FROM {scratch} "
            f"GROUP BY {key_list} ORDER BY {key_list} "
            f"ON CONFLICT ({key_list}) DO UPDATE SET {added}",
            f"TRUNCATE {scratch}",
        )


def generate(
    count: int,
    *,
    seed: int = 1,
    days: int = 365,
    now: datetime | None = None,
    batch: int = 10_000,
    set_aside_indexes: bool | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write `count` orders reported over the last `days` days with their timelines, and
    add their facts to the aggregates, in one transaction. Returns the figures of the run.

    `set_aside_indexes`: on PostgreSQL, build the filled tables' non-unique indexes and
    foreign keys after the rows instead of keeping them up row by row (default: from
    `SET_ASIDE_FROM` orders on)."""
    rng = random.Random(seed)  # noqa: S311 (history, not secrets)
    now = now or timezone.now()
    world = _world(rng, progress)
    grids, categories, units = world["grids"], world["categories"], world["units"]
    _warm_areas(grids)
    postgres = connection.vendor == "postgresql"
    if set_aside_indexes is None:
        set_aside_indexes = count >= SET_ASIDE_FROM
    tz = timezone.get_default_timezone()
    first_day = timezone.localtime(now - timedelta(days=days), tz).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    prefix = f"G{int(time.time()) % 10**8:08d}"
    statuses: dict[str, int] = {}
    started = time.perf_counter()
    acc = Accumulator()
    written = entries_written = unmerged = 0
    # Every column of an order, with the model's defaults for those history leaves alone.
    columns = [f.column for f in WorkOrder._meta.concrete_fields if f.column]
    template = [
        now if f.column == "updated_at" else f.get_default()
        for f in WorkOrder._meta.concrete_fields
        if f.column
    ]
    at = {column: i for i, column in enumerate(columns)}
    template[at["description"]] = "生成的历史工单"
    # COPY text: the template's once, then only the columns an order sets.
    template_text = [field(v) for v in template]
    varying = [
        at[c]
        for c in (
            "id", "number", "status", "source", "scene_id", "category_id", "lat", "lon",
            "h3_cell", "grid_id", "area_path", "created_at",
        )
    ]  # fmt: skip
    fact_columns = [at[c] for c in ORDER_ROW_COLUMNS]
    order_table = WorkOrder._meta.db_table
    entry_table = TimelineEntry._meta.db_table
    pick_hour = _Picker(HOUR_WEIGHTS)
    pick_category = _Picker(world["category_weights"])
    pick_source = _Picker(SOURCES_WEIGHTS)
    filled = (WorkOrder, TimelineEntry, Cell, DurationCell) if set_aside_indexes else ()
    with transaction.atomic():
        if postgres:
            with connection.cursor() as cursor:
                # History can be generated again: a crash losing the last commit costs
                # nothing, waiting for the WAL flush at each commit does.
                cursor.execute("SET LOCAL synchronous_commit = off")
                # The merge of the aggregates sorts millions of rows.
                cursor.execute("SET LOCAL work_mem = '256MB'")
        ids = iter(next_ids(WorkOrder, count))
        with set_aside(filled, progress):
            writer = Writer() if postgres else None
            try:
                if writer is not None:
                    _open_scratch(writer)
                while written < count:
                    n = min(batch, count - written)
                    rows: list[list[Any]] = []
                    lives: list[_Life] = []
                    for i in range(written, written + n):
                        day = rng.randrange(days)
                        hour = pick_hour(rng)
                        created = first_day + timedelta(
                            days=day, hours=hour, seconds=rng.randrange(3600)
                        )
                        if created > now:
                            created = now - timedelta(seconds=rng.randrange(1, 3600))
                        index = pick_category(rng)
                        category_id, scene_id, limits = categories[index]
                        grid = grids[rng.randrange(len(grids))]
                        unit = units[index % len(units)]
                        life = _life(rng, created, limits, unit, now)
                        lives.append(life)
                        statuses[life.status] = statuses.get(life.status, 0) + 1
                        lat = rng.uniform(grid.south, grid.north)
                        lon = rng.uniform(grid.west, grid.east)
                        row = template.copy()
                        row[at["id"]] = next(ids)
                        row[at["number"]] = f"{prefix}{i:010d}"
                        row[at["status"]] = life.status
                        row[at["source"]] = SOURCES[pick_source(rng)]
                        row[at["scene_id"]] = scene_id
                        row[at["category_id"]] = category_id
                        row[at["lat"]] = lat
                        row[at["lon"]] = lon
                        row[at["h3_cell"]] = h3_cell(lat, lon)
                        row[at["grid_id"]] = grid.pk
                        row[at["area_path"]] = grid.path
                        row[at["created_at"]] = created
                        for name, value in life.fields.items():
                            row[at[name]] = value
                        rows.append(row)
                    facts = add_orders(
                        acc,
                        (
                            (
                                OrderRow(*[row[c] for c in fact_columns]),
                                [Step(*step) for step in life.steps],
                            )
                            for row, life in zip(rows, lives, strict=True)
                        ),
                    )
                    entries = sum(len(life.steps) for life in lives)
                    if writer is not None:
                        lines = []
                        for row, life in zip(rows, lives, strict=True):
                            encoded = template_text.copy()
                            for c in varying:
                                encoded[c] = field(row[c])
                            for name in life.fields:
                                c = at[name]
                                encoded[c] = field(row[c])
                            lines.append("\t".join(encoded) + "\n")
                        writer.copy(order_table, columns, "".join(lines))
                        writer.copy(
                            entry_table,
                            ENTRY_COLUMNS,
                            "".join(
                                [
                                    f"{row[0]}\t{action}\t{_PLAIN[frm]}\t{_PLAIN[to]}\t"
                                    f"{NULL}\tsystem\t\t{moment}\t{_FLAG[on_time]}\t{{}}\n"
                                    for row, life in zip(rows, lives, strict=True)
                                    for action, frm, to, moment, on_time in life.steps
                                ]
                            ),
                        )
                        writer.copy(OrderFacts._meta.db_table, FACTS_COLUMNS, _facts_text(facts))
                    else:
                        insert_rows(order_table, columns, rows)
                        insert_rows(
                            entry_table,
                            ENTRY_COLUMNS,
                            (
                                (row[0], action, frm, to, None, "system", "", moment, on_time, "{}")
                                for row, life in zip(rows, lives, strict=True)
                                for action, frm, to, moment, on_time in life.steps
                            ),
                        )
                        save_facts(facts)
                    entries_written += entries
                    if len(acc) > FLUSH_AT:
                        unmerged += _flush(acc, writer)
                        if writer is not None and unmerged > MERGE_AT:
                            # While Python builds the next batches: only the last merge
                            # is left for the end.
                            _merge(writer)
                            unmerged = 0
                    written += n
                    elapsed = time.perf_counter() - started
                    progress(f"generated {written:,}/{count:,} orders ({written / elapsed:,.0f}/s)")
                _flush(acc, writer)
                if writer is not None:
                    _merge(writer)
                    writer.drain()
                    busy = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(writer.busy.items()))
                    progress(f"server time: {busy}")
            finally:
                if writer is not None:
                    writer.close()
            loaded = time.perf_counter() - started
        reset_sequence(WorkOrder)
    seconds = time.perf_counter() - started
    progress(
        f"done: {written:,} orders, {entries_written:,} timeline rows in {seconds:.1f} s "
        f"({loaded:.1f} s writing, {seconds - loaded:.1f} s building indexes and committing)"
    )
    return {
        "orders": written,
        "timeline_rows": entries_written,
        "seconds": round(seconds, 1),
        "orders_per_second": round(written / seconds) if seconds else None,
        "set_aside_indexes": bool(filled) and postgres,
        "statuses": dict(sorted(statuses.items())),
        "grids": len(grids),
        "categories": len(categories),
        "units": len(units),
    }


def _facts_text(records: list[tuple[Any, ...]]) -> str:
    return "".join([line(r) for r in records])


__all__ = ["generate"]
