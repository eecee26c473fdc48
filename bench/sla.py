"""Benchmark: the time-limit sweep over 100,000 open orders (seconds).

The fixture: a town of 400 grids in 16 communities, 16 units each with a leader and a
group of workers, two managers and four dispatchers, every person with a webhook endpoint
(so each alert queues a real outbox message), and 100,000 open orders in every stage whose
clocks are spread evenly from just started to long overdue (see POSITION), a tenth of them
paused (suspended, or an extension waiting).

Three sweeps:

    first    fires every alert due (tens of thousands: the worst case, the sweep's first
             run on a full database, or its return after an outage)
    second   fires nothing: the anti-join finds every alert already there (a steady
             minute with nothing new, which is what almost every run is)
    later    a minute on: only the orders that crossed a point in that minute

Delivery is not enqueued (`NOTIFY_DELIVER_ON_COMMIT` off): the outbox rows are written, the
HTTP sends are notify's own benchmark. Single process, one core.

    .venv/bin/python -m bench.sla              # throwaway SQLite database under var/
    .venv/bin/python -m bench.sla --smoke      # tiny sizes
    .venv/bin/python -m bench.sla --database-url postgres://postgres@127.0.0.1:5432/yunbao_bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from typing import Any

from bench.common import throwaway_database

FULL = {"rows": 20, "cols": 20, "communities": (4, 4), "workers_per_unit": 20, "orders": 100_000}
SMOKE = {"rows": 4, "cols": 4, "communities": (2, 2), "workers_per_unit": 2, "orders": 400}
SOUTH, WEST = 23.46, 113.37
LIMIT = dt.timedelta(hours=2)
# Where an order's clock stands at the swept moment, as a share of its 2-hour span: spread
# evenly from just started to long overdue, so about 36 % are fine, 9 % about to be overdue,
# 23 % overdue and 32 % past the second escalation point (at 150 %), and about 1,000 cross
# a point in the minute between the second and the third sweep.
POSITION = (0.0, 2.2)
PAUSED_SHARE = 0.1


def _fixture(size: dict[str, Any], rng: random.Random, now: dt.datetime) -> dict[str, int]:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    from yunbao.geo.models import Area, Level
    from yunbao.geo.synthetic import build_district, build_town
    from yunbao.notify.models import Channel, Endpoint
    from yunbao.org.models import Role, StaffProfile, Unit, UnitKind
    from yunbao.workorders.models import STAGE_OF_STATUS, Status, WorkOrder

    district = build_district(
        "990300",
        "时限基准区",
        "SLA Bench District",
        "sla-bench.yunbao.org",
        (SOUTH - 0.1, WEST - 0.1, SOUTH + 0.2, WEST + 0.2),
    )
    town = build_town(
        district=district,
        code="990300001",
        name="时限基准镇",
        name_en="SLA Bench Town",
        south=SOUTH,
        west=WEST,
        rows=size["rows"],
        cols=size["cols"],
        cell_m=100,
        communities=size["communities"],
    )
    communities = list(Area.objects.filter(level=Level.COMMUNITY, parent=town).order_by("code"))
    grids = list(Area.objects.filter(level=Level.GRID, path__startswith=town.path))
    grids_of: dict[int, list[Area]] = {c.pk: [] for c in communities}
    for grid in grids:
        grids_of[grid.parent_id].append(grid)  # type: ignore[index]

    password = make_password(None)
    groups = {role: Group.objects.get(name=role) for role in Role.values}
    people: list[tuple[User, str, Unit | None, Area]] = []

    def person(name: str, role: str, unit: Unit | None, area: Area) -> User:
        user = User(username=name, password=password)
        people.append((user, role, unit, area))
        return user

    units = []
    workers_of: dict[int, list[User]] = {}
    for i, community in enumerate(communities):
        unit = Unit.objects.create(code=f"sla-u{i}", name=f"基准单位{i}", kind=UnitKind.SANITATION)
        unit.areas.add(community)
        units.append((unit, community))
        unit.leader = person(f"sla-lead{i}", Role.SUPERVISOR, unit, community)
        workers_of[unit.pk] = [
            person(f"sla-w{i}-{j}", Role.WORKER, unit, community)
            for j in range(size["workers_per_unit"])
        ]
    managers = [person(f"sla-m{i}", Role.MANAGER, None, district) for i in range(2)]
    dispatchers = [person(f"sla-d{i}", Role.DISPATCHER, None, town) for i in range(4)]
    User.objects.bulk_create([p[0] for p in people])
    for unit, _ in units:
        unit.save(update_fields=["leader"])
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=u.pk, group_id=groups[role].pk) for u, role, _, _ in people]
    )
    profiles = StaffProfile.objects.bulk_create(
        [StaffProfile(user=u, unit=unit) for u, _, unit, _ in people]
    )
    StaffProfile.areas.through.objects.bulk_create(
        [
            StaffProfile.areas.through(staffprofile_id=p.pk, area_id=area.pk)
            for p, (_, _, _, area) in zip(profiles, people, strict=True)
        ]
    )
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                kind=Channel.WEBHOOK,
                address=f"https://hooks.example/{u.username}",
                secret="bench",  # noqa: S106 (a fixture's webhook key, never sent)
                user=u,
            )
            for u, _, _, _ in people
        ]
    )

    # FIXTURE, not the way orders are made: rows written straight into the table with the
    # fields the actions would have set (stage start, deadline), so the sweep reads a
    # realistically full database.
    statuses = [Status.SUBMITTED] * 10 + [Status.ACCEPTED] * 10
    statuses += [Status.DISPATCHED] * 30 + [Status.IN_PROGRESS] * 35 + [Status.HANDLED] * 15
    orders = []
    for i in range(size["orders"]):
        unit, community = rng.choice(units)
        grid = rng.choice(grids_of[community.pk])
        status = rng.choice(statuses)
        stage = STAGE_OF_STATUS[status]
        start = now - LIMIT * rng.uniform(*POSITION)
        due = start + LIMIT
        in_hand = status in (Status.DISPATCHED, Status.IN_PROGRESS, Status.HANDLED)
        paused = rng.random() < PAUSED_SHARE
        fields: dict[str, Any] = {
            "created_at": start if stage == "accept" else start - dt.timedelta(hours=1),
            "accept_due": due if stage == "accept" else start,
        }
        if stage != "accept":
            fields.update(accepted_at=start if stage == "dispatch" else start - LIMIT / 2)
            fields.update(dispatch_due=due if stage == "dispatch" else start)
        if in_hand:
            fields.update(dispatched_at=start if stage == "handle" else start - LIMIT / 2)
            fields.update(handle_due=due if stage == "handle" else start)
        if stage == "check":
            fields.update(handled_at=start, check_due=due)
        if paused and status in (Status.DISPATCHED, Status.IN_PROGRESS):
            fields["paused_at"] = now - dt.timedelta(minutes=30)
        elif paused:
            fields.update(suspended_from=status, suspended_at=now - dt.timedelta(minutes=30))
            status = Status.SUSPENDED
        orders.append(
            WorkOrder(
                number=f"SLA{i:08d}",
                status=status,
                lat=rng.uniform(grid.min_lat, grid.max_lat),
                lon=rng.uniform(grid.min_lon, grid.max_lon),
                grid=grid,
                area_path=grid.path,
                unit=unit if in_hand else None,
                worker=rng.choice(workers_of[unit.pk]) if in_hand else None,
                **fields,
            )
        )
    WorkOrder.objects.bulk_create(orders, batch_size=2_000)
    return {
        "orders": len(orders),
        "people": len(people),
        "managers": len(managers),
        "dispatchers": len(dispatchers),
    }


def run(smoke: bool = False) -> dict[str, Any]:
    """Build the fixture in the configured database, sweep three times, print and return
    the figures."""
    from django.test import override_settings
    from django.utils import timezone

    from yunbao.notify.models import Message
    from yunbao.sla.models import SlaAlert
    from yunbao.sla.sweep import sweep

    size = SMOKE if smoke else FULL
    rng = random.Random(2026)
    now = timezone.now().replace(microsecond=0)
    started = time.perf_counter()
    fixture = _fixture(size, rng, now)
    build_seconds = time.perf_counter() - started

    def timed(at: dt.datetime) -> tuple[float, Any]:
        t0 = time.perf_counter()
        # Outbox rows only: delivery (one task per commit) is notify's to measure.
        with override_settings(YUNBAO_NOTIFY_DELIVER_ON_COMMIT=False):
            result = sweep(at)
        return time.perf_counter() - t0, result

    from django.urls import reverse

    reverse("order-detail", args=["warm-up"])  # the URLconf import is start-up cost
    first_s, first = timed(now)
    second_s, second = timed(now)
    later_s, later = timed(now + dt.timedelta(minutes=1))
    open_orders = fixture["orders"]
    figures = {
        "open_orders": open_orders,
        "build_s": round(build_seconds, 1),
        "first_s": round(first_s, 2),
        "first_alerts": first.total,
        "first_by_level": first.fired,
        "first_notifications": first.notifications,
        "first_alerts_per_s": round(first.total / first_s) if first_s else None,
        "second_s": round(second_s, 3),
        "second_alerts": second.total,
        "second_orders_per_s": round(open_orders / second_s) if second_s else None,
        "later_s": round(later_s, 3),
        "later_alerts": later.total,
        "alerts_stored": SlaAlert.objects.count(),
        "messages_stored": Message.objects.count(),
    }
    print(
        f"{open_orders} open orders (built in {build_seconds:.1f} s)\n"
        f"first sweep:  {first_s:7.2f} s, {first.total} alerts {first.fired}, "
        f"{first.notifications} messages ({figures['first_alerts_per_s']} alerts/s)\n"
        f"second sweep: {second_s:7.3f} s, {second.total} alerts "
        f"({figures['second_orders_per_s']} orders/s)\n"
        f"a minute on:  {later_s:7.3f} s, {later.total} alerts"
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--database-url", help="default: a throwaway SQLite file under var/")
    args = parser.parse_args(argv)
    with throwaway_database("sla", args.database_url):
        figures = run(smoke=args.smoke)
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
