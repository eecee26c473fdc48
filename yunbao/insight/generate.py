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
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from yunbao.catalog.models import Category, TimeLimit, TimeUnit
from yunbao.geo.locate import h3_cell
from yunbao.geo.models import Area, Level
from yunbao.insight.facts import ORDER_FIELDS, OrderRow, Step
from yunbao.insight.store import Accumulator, add_orders, clear_cache, save_facts
from yunbao.lib.bulk import insert_rows, next_ids, reset_sequence
from yunbao.org.models import Unit, UnitKind
from yunbao.workorders.models import Source, Status, TimelineEntry, WorkOrder

H = 3600.0
SOURCES = (Source.RESIDENT, Source.INSPECTOR, Source.HOTLINE, Source.OPEN311)
SOURCE_WEIGHTS = (50, 30, 15, 5)
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
        f["rating"] = rng.choices(RATINGS, RATING_WEIGHTS)[0]
        life.move("rate", Status.CLOSED)
    return life


def _order_row(o: dict[str, Any]) -> OrderRow:
    return OrderRow(*(o[name] for name in ORDER_ROW_COLUMNS))


# `facts.OrderRow`'s fields, as the order table's columns.
ORDER_ROW_COLUMNS = tuple("id" if f == "pk" else f for f in ORDER_FIELDS)


def generate(
    count: int,
    *,
    seed: int = 1,
    days: int = 365,
    now: datetime | None = None,
    batch: int = 10_000,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write `count` orders reported over the last `days` days with their timelines, and
    add their facts to the aggregates. Returns the figures of the run."""
    rng = random.Random(seed)  # noqa: S311 (history, not secrets)
    now = now or timezone.now()
    world = _world(rng, progress)
    grids, categories, units = world["grids"], world["categories"], world["units"]
    tz = timezone.get_default_timezone()
    first_day = timezone.localtime(now - timedelta(days=days), tz).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    prefix = f"G{int(time.time()) % 10**8:08d}"
    statuses: dict[str, int] = {}
    started = time.perf_counter()
    acc = Accumulator()
    written = entries_written = 0
    # Every column of an order, with the model's defaults for those history leaves alone.
    fields = [(f.column, f) for f in WorkOrder._meta.concrete_fields if f.column]
    columns = [column for column, _f in fields]
    template: dict[str, Any] = {column: f.get_default() for column, f in fields if column != "id"}
    template["updated_at"] = now
    order_table = WorkOrder._meta.db_table
    entry_table = TimelineEntry._meta.db_table
    with transaction.atomic():
        ids = iter(next_ids(WorkOrder, count))
        while written < count:
            n = min(batch, count - written)
            orders: list[dict[str, Any]] = []
            lives: list[_Life] = []
            for i in range(written, written + n):
                day = rng.randrange(days)
                hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
                created = first_day + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
                if created > now:
                    created = now - timedelta(seconds=rng.randrange(1, 3600))
                index = rng.choices(range(len(categories)), world["category_weights"])[0]
                category_id, scene_id, limits = categories[index]
                grid = grids[rng.randrange(len(grids))]
                unit = units[index % len(units)]
                life = _life(rng, created, limits, unit, now)
                lives.append(life)
                statuses[life.status] = statuses.get(life.status, 0) + 1
                lat = rng.uniform(grid.south, grid.north)
                lon = rng.uniform(grid.west, grid.east)
                row = dict(template)
                row.update(
                    id=next(ids),
                    number=f"{prefix}{i:010d}",
                    status=life.status,
                    source=rng.choices(SOURCES, SOURCE_WEIGHTS)[0],
                    scene_id=scene_id,
                    category_id=category_id,
                    description="生成的历史工单",
                    lat=lat,
                    lon=lon,
                    h3_cell=h3_cell(lat, lon),
                    grid_id=grid.pk,
                    area_path=grid.path,
                    created_at=created,
                )
                row.update(life.fields)
                orders.append(row)
            insert_rows(order_table, columns, ([o[c] for c in columns] for o in orders))
            entries_written += insert_rows(
                entry_table,
                ENTRY_COLUMNS,
                (
                    (o["id"], action, frm, to, None, "system", "", at, on_time, {})
                    for o, life in zip(orders, lives, strict=True)
                    for action, frm, to, at, on_time in life.steps
                ),
            )
            save_facts(
                add_orders(
                    acc,
                    (
                        (_order_row(o), [Step(*step) for step in life.steps])
                        for o, life in zip(orders, lives, strict=True)
                    ),
                )
            )
            if len(acc) > 300_000:
                acc.flush()
            written += n
            elapsed = time.perf_counter() - started
            progress(f"generated {written:,}/{count:,} orders ({written / elapsed:,.0f}/s)")
        reset_sequence(WorkOrder)
    with transaction.atomic():
        acc.flush()
    seconds = time.perf_counter() - started
    progress(f"done: {written:,} orders, {entries_written:,} timeline rows in {seconds:.1f} s")
    return {
        "orders": written,
        "timeline_rows": entries_written,
        "seconds": round(seconds, 1),
        "statuses": dict(sorted(statuses.items())),
        "grids": len(grids),
        "categories": len(categories),
        "units": len(units),
    }


__all__ = ["generate"]
