"""Benchmark: automatic dispatch decisions per second for new reports, on one core.

The fixture: a town of 10,000 grids (`yunbao.geo.synthetic.build_town`), four units with
routing rules at district, street, community and grid level, 500 field workers on duty
(each serving one community), 50,000 open orders of which three in four are in someone's
hands (with their dispatch timeline rows, so workload and fairness read real data).

Each new report then goes through everything the machine does before it may dispatch:

    locate      point → grid (`geo.locate.locate`)
    dedupe      duplicate candidates (`intake.dedupe.find_candidates`, as intake runs it)
    classify    the active classifier on the description (a stub when there is none)
    duplicates  is there a duplicate suggestion; is the order still new
    threshold   the category's threshold; the grid's ancestors
    route       the routing rule (`dispatch.routing.route`)
    assign      who is on duty (`org.duty.on_duty`), positions, workload, fairness

(`classify` … `assign` are `dispatch.policy.decide`, timed from inside.) Reports are not
saved: the decision is what is measured, not the insert (see bench/transitions.py).
Single-threaded, so one core. Goal: ≥ 500 decisions/s.

    .venv/bin/python -m bench.dispatch              # throwaway SQLite database under var/
    .venv/bin/python -m bench.dispatch --smoke      # tiny sizes
    .venv/bin/python -m bench.dispatch --analyze    # with table statistics (ANALYZE)
    .venv/bin/python -m bench.dispatch --database-url postgres://postgres@127.0.0.1:5432/yunbao_bench

`run()` measures in whatever database Django is configured with (the smoke test calls it
with `smoke=True` inside its test database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from typing import Any

from bench.common import throwaway_database

FULL = {
    "rows": 100,
    "cols": 100,
    "communities": (10, 10),
    "staff": 500,
    "orders": 50_000,
    "grid_rules": 200,
    "decisions": 2_000,
    "warmup": 50,
}
SMOKE = {
    "rows": 6,
    "cols": 6,
    "communities": (2, 2),
    "staff": 16,
    "orders": 300,
    "grid_rules": 4,
    "decisions": 40,
    "warmup": 5,
}
SOUTH, WEST = 23.26, 113.17
STEPS = ("locate", "dedupe", "classify", "duplicates", "threshold_and_area", "route", "assign")

TEXTS = (
    "路边有一堆垃圾没人清理",
    "垃圾桶满了，臭味很大",
    "井盖丢失，很危险",
    "路灯不亮，晚上很黑",
    "树枝折断挡住人行道",
    "有人占道经营摆摊",
    "共享单车乱停乱放堵住路口",
    "墙上有小广告",
    "污水冒出来了",
    "绿化带里的草枯死了",
)


class _StubPrediction:
    def __init__(self, code: str) -> None:
        self.category_code = code
        self.probability = 0.93
        self.top = [(code, 0.93)]


class StubClassifier:
    """Stands in while no classifier is available: one fixed category at 93 %."""

    version = None

    def __init__(self, code: str) -> None:
        self._prediction = _StubPrediction(code)

    def predict_one(self, text: str) -> _StubPrediction:
        return self._prediction


def _classifier_or_stub(policy: Any, code: str, *, stub: bool) -> str:
    """Use the active classifier if there is one, else install the stub; say which."""
    if stub:
        classifier, why = None, "asked for"
    else:
        try:
            classifier = policy.current_classifier()
        except Exception as exc:  # a broken classifier module: measure the rest anyway
            classifier, why = None, f"classifier unavailable ({exc!r})"
        else:
            why = "no classifier module or no active model"
    if classifier is not None:
        source = getattr(classifier, "source", "") or "stored"
        return f"active classifier (version {classifier.version}, {source})"
    fixed = StubClassifier(code)
    policy.current_classifier = lambda: fixed
    return f"STUB classifier (fixed {code} at 93 %): {why}"


def _fixture(size: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Build the town, units, rules, staff on duty and open orders; returns handles."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from yunbao.catalog.models import Category
    from yunbao.dispatch.models import RoutingRule
    from yunbao.geo.models import Area, Level
    from yunbao.geo.synthetic import build_district, build_town
    from yunbao.org.models import Role, Shift, StaffProfile, Unit, UnitKind
    from yunbao.workorders.models import Status, TimelineEntry, WorkOrder

    district = build_district(
        "990200",
        "派遣基准区",
        "Dispatch Bench District",
        "dispatch-bench.yunbao.org",
        (SOUTH - 0.1, WEST - 0.1, SOUTH + 0.2, WEST + 0.2),
    )
    town = build_town(
        district=district,
        code="990200001",
        name="派遣基准镇",
        name_en="Dispatch Bench Town",
        south=SOUTH,
        west=WEST,
        rows=size["rows"],
        cols=size["cols"],
        cell_m=100,
        communities=size["communities"],
    )
    communities = list(Area.objects.filter(level=Level.COMMUNITY, parent=town).order_by("code"))
    grids = list(Area.objects.filter(level=Level.GRID, path__startswith=town.path))
    categories = list(Category.objects.filter(active=True).order_by("code"))
    if not categories:
        raise RuntimeError("no categories: the catalogue migration did not run")
    events = [c for c in categories if c.kind == "event"] or categories

    units = {
        kind: Unit.objects.create(code=f"bench-{kind}", name=f"基准{kind}", kind=kind)
        for kind in (
            UnitKind.ENFORCEMENT,
            UnitKind.SANITATION,
            UnitKind.GREENING,
            UnitKind.UTILITY,
        )
    }
    for unit in units.values():
        unit.areas.add(town)
    # The rules: a district-wide catch-all, groups for the town, a category per community,
    # and grid-level exceptions.
    rules = [
        RoutingRule(unit=units[UnitKind.ENFORCEMENT], note="catch-all"),
        RoutingRule(category_group="event:01", area=town, unit=units[UnitKind.SANITATION]),
        RoutingRule(category_group="event:03", area=town, unit=units[UnitKind.GREENING]),
        RoutingRule(category_group="component:01", unit=units[UnitKind.UTILITY]),
    ]
    garbage = next((c for c in categories if c.code == "E0102"), events[0])
    rules += [
        RoutingRule(category=garbage, area=c, unit=units[UnitKind.SANITATION]) for c in communities
    ]
    rules += [
        RoutingRule(category_group="event:02", area=grid, unit=units[UnitKind.GREENING])
        for grid in rng.sample(grids, size["grid_rules"])
    ]
    RoutingRule.objects.bulk_create(rules)

    # 500 field workers, each serving one community for one unit, on shift all week round
    # (00:00-00:00 is a 24-hour shift), so everyone is on duty whenever the bench runs.
    password = make_password(None)
    unit_list = list(units.values())
    users = User.objects.bulk_create(
        [User(username=f"bench-w{i:04d}", password=password) for i in range(size["staff"])]
    )
    worker_group = Group.objects.get(name=Role.WORKER)
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=u.pk, group_id=worker_group.pk) for u in users]
    )
    profiles = StaffProfile.objects.bulk_create(
        [
            StaffProfile(user=u, unit=unit_list[i % len(unit_list)], display_name=f"工{i}")
            for i, u in enumerate(users)
        ]
    )
    StaffProfile.areas.through.objects.bulk_create(
        [
            StaffProfile.areas.through(
                staffprofile_id=p.pk,
                area_id=communities[(i // len(unit_list)) % len(communities)].pk,
            )
            for i, p in enumerate(profiles)
        ]
    )
    Shift.objects.bulk_create(
        [
            Shift(user=u, weekday=day, start=dt.time(0), end=dt.time(0))
            for u in users
            for day in range(7)
        ]
    )
    workers_of_unit = {
        unit.pk: [u for i, u in enumerate(users) if unit_list[i % len(unit_list)] == unit]
        for unit in unit_list
    }

    # FIXTURE, not the way orders are made: 50,000 open orders written straight into the
    # table (valid fields, no actions), with a dispatch timeline row for each in someone's
    # hands, so duplicate search, workload and fairness read a realistically full database.
    now = timezone.now()
    statuses = [Status.SUBMITTED] * 15 + [Status.ACCEPTED] * 10
    statuses += [Status.DISPATCHED] * 40 + [Status.IN_PROGRESS] * 35
    orders = []
    for i in range(size["orders"]):
        grid = rng.choice(grids)
        status = rng.choice(statuses)
        created = now - dt.timedelta(hours=rng.uniform(0.5, 14 * 24))
        order_unit: Unit | None = None
        order_worker: User | None = None
        if status in (Status.DISPATCHED, Status.IN_PROGRESS):
            order_unit = rng.choice(unit_list)
            order_worker = rng.choice(workers_of_unit[order_unit.pk])
        orders.append(
            WorkOrder(
                number=f"BENCH{i:08d}",
                status=status,
                category=rng.choice(categories),
                description=rng.choice(TEXTS),
                lat=rng.uniform(grid.min_lat, grid.max_lat),
                lon=rng.uniform(grid.min_lon, grid.max_lon),
                grid=grid,
                area_path=grid.path,
                unit=order_unit,
                worker=order_worker,
                created_at=created,
                accepted_at=created + dt.timedelta(minutes=10) if order_unit else None,
                dispatched_at=created + dt.timedelta(minutes=20) if order_unit else None,
            )
        )
    WorkOrder.objects.bulk_create(orders, batch_size=2_000)
    TimelineEntry.objects.bulk_create(
        [
            TimelineEntry(
                order=o,
                action="dispatch",
                from_status=Status.ACCEPTED,
                to_status=Status.DISPATCHED,
                role="dispatcher",
                at=o.dispatched_at,
                data={"unit": o.unit.code, "worker": o.worker.username},
            )
            for o in orders
            if o.worker is not None and o.unit is not None and o.dispatched_at is not None
        ],
        batch_size=2_000,
    )
    return {"town": town, "grids": grids, "garbage": garbage, "rules": len(rules)}


def run(smoke: bool = False, *, analyze: bool = False, stub: bool = False) -> dict[str, Any]:
    """Build the fixture in the configured database, measure, print and return the figures.

    `analyze` gathers the database's table statistics (ANALYZE) after loading the fixture.
    Off by default, as production runs (the duplicate search is planned by position either
    way: `intake.dedupe._candidate_rows`; the other queries may plan differently). `stub`
    measures with the fixed-answer stub classifier even when a real one is available.
    """
    from django.db import connection
    from django.utils import timezone

    from yunbao.dispatch import policy, routing
    from yunbao.geo.locate import invalidate_cache, locate
    from yunbao.intake.dedupe import find_candidates, warm_up
    from yunbao.workorders.models import Status, WorkOrder

    size: dict[str, Any] = SMOKE if smoke else FULL
    rng = random.Random(2025)
    started = time.perf_counter()
    fixture = _fixture(size, rng)
    build_seconds = time.perf_counter() - started
    if analyze:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    invalidate_cache()
    routing.clear()
    policy.clear_thresholds()
    original = policy.current_classifier
    classifier_note = _classifier_or_stub(policy, fixture["garbage"].code, stub=stub)
    warm_up()  # start-up cost, not a decision's
    policy.current_classifier()  # so is building the cold-start model, when there is none

    grids = fixture["grids"]
    reports = []
    for _ in range(size["warmup"] + size["decisions"]):
        grid = rng.choice(grids)
        lat = rng.uniform(grid.min_lat, grid.max_lat)
        lon = rng.uniform(grid.min_lon, grid.max_lon)
        reports.append((lat, lon, rng.choice(TEXTS)))

    timings: dict[str, float] = {}
    decide_seconds = 0.0
    outcomes: dict[str, int] = {}
    try:
        for i, (lat, lon, text) in enumerate(reports):
            measuring = i >= size["warmup"]
            steps: dict[str, float] = {}
            at = timezone.now()
            t0 = time.perf_counter()
            location = locate(lat, lon)
            t1 = time.perf_counter()
            find_candidates(lat=lat, lon=lon, category_id=None, text=text, at=at)
            t2 = time.perf_counter()
            order = WorkOrder(
                status=Status.SUBMITTED,
                lat=lat,
                lon=lon,
                grid=location.grid,
                area_path=location.grid.path,
                description=text,
                created_at=at,
            )
            t3 = time.perf_counter()
            plan = policy.decide(order, at=at, timings=steps)
            t4 = time.perf_counter()
            if measuring:
                decide_seconds += t4 - t3
                steps["locate"] = t1 - t0
                steps["dedupe"] = t2 - t1
                for step, seconds in steps.items():
                    timings[step] = timings.get(step, 0.0) + seconds
                outcome = "automatic" if plan.automatic else ",".join(plan.fallbacks)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        policy.current_classifier = original

    total = sum(timings.values())
    decisions = size["decisions"]
    per_s = decisions / total
    shares = {step: round(timings.get(step, 0.0) / total, 3) for step in STEPS}
    figures: dict[str, Any] = {
        "database": connection.vendor,
        "grids": len(grids),
        "staff": size["staff"],
        "open_orders": size["orders"],
        "rules": fixture["rules"],
        "decisions": decisions,
        "build_seconds": round(build_seconds, 1),
        "analyzed": analyze,
        "decisions_per_s": round(per_s, 1),
        "ms_per_decision": round(1000 * total / decisions, 3),
        "decide_only_per_s": round(decisions / decide_seconds, 1),
        "share": shares,
        "outcomes": outcomes,
        "classifier": classifier_note,
    }
    print(
        f"{connection.vendor}: {len(grids)} grids, {size['staff']} staff on duty, "
        f"{size['orders']} open orders, {fixture['rules']} rules (built in {build_seconds:.1f} s)"
    )
    print(f"classifier: {classifier_note}")
    print(f"full decisions: {per_s:,.0f}/s ({1000 * total / decisions:.2f} ms each, one core)")
    print(
        f"policy.decide() alone (classify … assign; no locate, no duplicate search): "
        f"{decisions / decide_seconds:,.0f}/s"
    )
    for step in STEPS:
        seconds = timings.get(step, 0.0)
        print(f"  {step:<20} {shares[step]:>6.1%}  {1000 * seconds / decisions:.3f} ms")
    print(f"outcomes: {outcomes}")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--database-url", help="default: a throwaway SQLite file under var/")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE after the fixture")
    parser.add_argument("--stub", action="store_true", help="the stub, not the real classifier")
    args = parser.parse_args(argv)
    with throwaway_database("dispatch", args.database_url):
        figures = run(smoke=args.smoke, analyze=args.analyze, stub=args.stub)
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
