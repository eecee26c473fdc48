"""Choosing the worker: roster edges (shift ends, overnight, holidays off), the ranking by
distance, then workload, then who was assigned least recently, and positions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from yunbao.dispatch.assign import NOBODY_ON_DUTY, choose_worker, people_on_duty
from yunbao.dispatch.policy import clear_caches
from yunbao.dispatch.positions import latest_positions
from yunbao.org.actions import create_staff
from yunbao.org.duty import on_duty
from yunbao.org.models import Role, RosterException, Shift, Unit, UnitKind, Weekday
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions as orders

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2025, 3, 3)
NATIONAL_DAY = dt.date(2025, 10, 1)  # a Wednesday, a public holiday


@pytest.fixture(autouse=True)
def _shanghai_and_fresh_caches(settings: Any) -> Iterator[None]:
    settings.TIME_ZONE = "Asia/Shanghai"
    clear_caches()
    yield
    clear_caches()


def local(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=SHANGHAI)


def shift(user: User, weekday: int, start: int, end: int) -> Shift:
    return Shift.objects.create(
        user=user, weekday=weekday, start=dt.time(start), end=dt.time(end % 24)
    )


def always_on(user: User) -> None:
    """00:00-00:00 every day: a 24-hour shift, so on duty whenever the test runs."""
    for day in range(7):
        shift(user, day, 0, 0)


def worker(world: World, name: str, **kwargs: Any) -> User:
    kwargs.setdefault("unit", world.unit1)
    kwargs.setdefault("roles", [Role.WORKER])
    return create_staff(username=name, **kwargs)


def centre(area: Any) -> tuple[float, float]:
    return area.center_lat, area.center_lon


def hand(
    world: World, person: User, *, at: dt.datetime | None = None, finish: bool = False
) -> None:
    """Give `person` an order (dispatched at `at`), and let them finish it if asked."""
    lat, lon = world.point1()
    at = at or timezone.now()
    order = orders.submit(actor=None, lat=lat, lon=lon, category=world.category, at=at)
    orders.accept(order, actor=None, at=at)
    orders.dispatch(order, actor=None, unit=world.unit1, worker=person, at=at)
    if finish:
        later = at + dt.timedelta(minutes=5)
        orders.start(order, actor=person, at=later)
        orders.finish(order, actor=person, note="done", at=later, photos=[stored_photo()])


# --- Roster edges --------------------------------------------------------------------------


def test_it_has_a_day_shift_end_at_17_00_sharp_in_shanghai(world: World) -> None:
    bob = world.users["bob"]
    shift(bob, Weekday.MONDAY, 8, 17)
    point = world.point1()

    before = choose_worker(world.unit1, point, world.grid1, local(MONDAY, 16, 59, 59))
    after = choose_worker(world.unit1, point, world.grid1, local(MONDAY, 17))
    again = choose_worker(world.unit1, point, world.grid1, local(MONDAY, 16, 59, 59))

    assert before.worker == bob
    assert after.worker is None
    assert after.reasons == {"on_duty": 0, "worker": None, "code": NOBODY_ON_DUTY}
    assert after.ranking == []
    assert again.worker == bob  # asked in any order, the instant decides
    # 17:00 Shanghai is 09:00 UTC: the same instant in another zone is the same answer.
    utc = dt.datetime(2025, 3, 3, 8, 59, 59, tzinfo=dt.UTC)
    assert choose_worker(world.unit1, point, world.grid1, utc).worker == bob
    assert (
        choose_worker(world.unit1, point, world.grid1, utc + dt.timedelta(seconds=1)).worker is None
    )


def test_it_keeps_an_overnight_shift_after_midnight(world: World) -> None:
    bill = world.users["bill"]
    shift(bill, Weekday.MONDAY, 22, 6)
    point = world.point1()
    tuesday = MONDAY + dt.timedelta(days=1)

    assert choose_worker(world.unit1, point, world.grid1, local(MONDAY, 21, 59, 59)).worker is None
    assert choose_worker(world.unit1, point, world.grid1, local(MONDAY, 23, 30)).worker == bill
    assert choose_worker(world.unit1, point, world.grid1, local(tuesday, 0, 0)).worker == bill
    assert choose_worker(world.unit1, point, world.grid1, local(tuesday, 3)).worker == bill
    assert choose_worker(world.unit1, point, world.grid1, local(tuesday, 5, 59, 59)).worker == bill
    assert choose_worker(world.unit1, point, world.grid1, local(tuesday, 6)).worker is None
    # Monday 03:00 is not covered: there is no Sunday shift.
    assert choose_worker(world.unit1, point, world.grid1, local(MONDAY, 3)).worker is None


def test_it_honours_a_day_off_on_a_public_holiday(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    shift(bob, Weekday.WEDNESDAY, 8, 17)
    point = world.point1()
    assert choose_worker(world.unit1, point, world.grid1, local(NATIONAL_DAY, 10)).worker == bob

    # Entered after the roster was read: the edit applies at once.
    RosterException.objects.create(
        user=bob, date=NATIONAL_DAY, kind=RosterException.Kind.OFF, note="国庆节"
    )
    assert choose_worker(world.unit1, point, world.grid1, local(NATIONAL_DAY, 10)).worker is None
    # The next Wednesday is an ordinary day.
    next_week = NATIONAL_DAY + dt.timedelta(days=7)
    assert choose_worker(world.unit1, point, world.grid1, local(next_week, 10)).worker == bob

    # Someone on an extra holiday shift covers it.
    RosterException.objects.create(
        user=bill,
        date=NATIONAL_DAY,
        kind=RosterException.Kind.EXTRA,
        start=dt.time(9),
        end=dt.time(12),
    )
    assert choose_worker(world.unit1, point, world.grid1, local(NATIONAL_DAY, 10)).worker == bill
    assert choose_worker(world.unit1, point, world.grid1, local(NATIONAL_DAY, 12)).worker is None


def test_it_answers_exactly_as_on_duty_at_every_instant(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    shift(bob, Weekday.MONDAY, 8, 17)
    shift(bill, Weekday.MONDAY, 22, 6)
    shift(bill, Weekday.TUESDAY, 8, 12)
    tuesday = MONDAY + dt.timedelta(days=1)
    RosterException.objects.create(
        user=bill,
        date=MONDAY,
        kind=RosterException.Kind.OFF,
        start=dt.time(23, 30),
        end=dt.time(1, 15),
    )
    RosterException.objects.create(
        user=bob,
        date=tuesday,
        kind=RosterException.Kind.EXTRA,
        start=dt.time(18, 0, 30),
        end=dt.time(19),
    )
    instants = [local(MONDAY, 0) + dt.timedelta(minutes=15 * i) for i in range(4 * 24 * 2 + 8)]
    # Every boundary, and a second either side of it.
    for day, hour, minute, second in (
        (MONDAY, 8, 0, 0),
        (MONDAY, 17, 0, 0),
        (MONDAY, 22, 0, 0),
        (MONDAY, 23, 30, 0),
        (tuesday, 1, 15, 0),
        (tuesday, 6, 0, 0),
        (tuesday, 18, 0, 30),
        (tuesday, 19, 0, 0),
    ):
        edge = local(day, hour, minute, second)
        instants += [edge - dt.timedelta(seconds=1), edge, edge + dt.timedelta(seconds=1)]

    for sequence in (sorted(instants), sorted(instants, reverse=True)):
        for at in sequence:
            expected = on_duty(world.unit1, world.grid1, at)
            assert people_on_duty(world.unit1, world.grid1, at) == expected, at


def test_it_only_considers_people_whose_areas_cover_the_place(world: World) -> None:
    street_two = worker(world, "street-two", areas=[world.street2])
    anywhere = worker(world, "anywhere")
    grid_b = worker(world, "grid-b", areas=[world.grid1b])
    for person in (street_two, anywhere, grid_b):
        always_on(person)
    now = timezone.now()

    assert people_on_duty(world.unit1, world.grid1, now) == [anywhere]
    assert people_on_duty(world.unit1, world.grid1b, now) == [anywhere, grid_b]
    assert people_on_duty(world.unit1, world.grid1b, now) == on_duty(world.unit1, world.grid1b, now)


# --- Ranking -------------------------------------------------------------------------------


def test_it_ranks_by_distance_first(world: World) -> None:
    far = worker(world, "far", areas=[world.district])
    near = worker(world, "near", areas=[world.grid1])
    mid = worker(world, "mid", areas=[world.grid1.parent])
    for person in (far, near, mid):
        always_on(person)
    # The near one is much busier: distance still comes first.
    hand(world, near)
    hand(world, near)

    chosen = choose_worker(world.unit1, centre(world.grid1), world.grid1, timezone.now())

    assert chosen.worker == near
    assert [c.worker for c in chosen.ranking] == [near, mid, far]
    distances = [c.distance_m or 0 for c in chosen.ranking]
    assert None not in [c.distance_m for c in chosen.ranking]
    assert distances[0] == 0
    assert 50 < distances[1] < 100  # the community's centre, about 74 m away
    assert distances[2] > 1000
    assert chosen.reasons["worker"] == "near"
    assert chosen.reasons["on_duty"] == 3
    assert [r["worker"] for r in chosen.reasons["ranking"]] == ["near", "mid", "far"]
    assert chosen.reasons["ranking"][0]["workload"] == 2


def test_it_ranks_equally_near_people_by_open_workload(world: World) -> None:
    busy = worker(world, "busy", areas=[world.grid1])
    idle = worker(world, "idle", areas=[world.grid1])
    some = worker(world, "some", areas=[world.grid1])
    for person in (busy, idle, some):
        always_on(person)
    hand(world, busy)
    hand(world, busy)
    hand(world, some)
    hand(world, idle, finish=True)  # handled: no longer in hand

    chosen = choose_worker(world.unit1, world.point1(), world.grid1, timezone.now())

    assert [c.worker for c in chosen.ranking] == [idle, some, busy]
    assert [c.workload for c in chosen.ranking] == [0, 1, 2]


def test_it_gives_the_order_to_whoever_was_assigned_least_recently(world: World) -> None:
    people = [worker(world, name, areas=[world.grid1]) for name in ("w1", "w2", "w3", "w4")]
    for person in people:
        always_on(person)
    w1, w2, w3, w4 = people
    now = timezone.now()
    hand(world, w1, at=now - dt.timedelta(hours=1), finish=True)
    hand(world, w2, at=now - dt.timedelta(hours=3), finish=True)
    hand(world, w3, at=now - dt.timedelta(hours=2), finish=True)
    # w4 has never been given an order: they have waited longest.

    chosen = choose_worker(world.unit1, world.point1(), world.grid1, now)

    assert [c.worker for c in chosen.ranking] == [w4, w2, w3, w1]
    assert chosen.ranking[0].last_assigned is None
    assert chosen.ranking[1].last_assigned is not None
    assert chosen.ranking[1].last_assigned < chosen.ranking[2].last_assigned  # type: ignore[operator]
    assert all(c.workload == 0 for c in chosen.ranking)


def test_it_counts_a_reassignment_as_an_assignment(world: World) -> None:
    first, second = (worker(world, n, areas=[world.grid1]) for n in ("first", "second"))
    for person in (first, second):
        always_on(person)
    now = timezone.now()
    lat, lon = world.point1()
    # An order dispatched to `second`, then reassigned to `first` (later), then finished.
    order = orders.submit(actor=None, lat=lat, lon=lon, category=world.category, at=now)
    orders.accept(order, actor=None, at=now)
    orders.dispatch(order, actor=None, unit=world.unit1, worker=second, at=now)
    orders.assign(order, actor=None, worker=first, at=now + dt.timedelta(minutes=1))
    orders.start(order, actor=first, at=now + dt.timedelta(minutes=2))
    orders.finish(
        order,
        actor=first,
        note="done",
        at=now + dt.timedelta(minutes=3),
        photos=[stored_photo()],
    )

    chosen = choose_worker(world.unit1, world.point1(), world.grid1, now + dt.timedelta(minutes=10))

    # `second` lost that order: it no longer counts for them; `first` was assigned it.
    assert [c.worker for c in chosen.ranking] == [second, first]


def test_it_breaks_a_complete_tie_by_user_id(world: World) -> None:
    people = [worker(world, name, areas=[world.grid1]) for name in ("zz", "aa", "mm")]
    for person in people:
        always_on(person)

    chosen = choose_worker(world.unit1, world.point1(), world.grid1, timezone.now())

    assert [c.worker for c in chosen.ranking] == sorted(people, key=lambda u: u.pk)


def test_it_ranks_people_with_no_known_position_last(world: World) -> None:
    unit = Unit.objects.create(code="nowhere", name="无区域", kind=UnitKind.OTHER)
    lost = create_staff(username="lost", roles=[Role.WORKER], unit=unit)
    found = create_staff(username="found", roles=[Role.WORKER], unit=unit, areas=[world.grid1])
    for person in (lost, found):
        always_on(person)

    chosen = choose_worker(unit, world.point1(), world.grid1, timezone.now())

    assert [c.worker for c in chosen.ranking] == [found, lost]
    assert chosen.ranking[1].distance_m is None


def test_it_ranks_everyone_fully_when_asked(world: World) -> None:
    people = [worker(world, f"p{i}", areas=[world.grid1]) for i in range(5)]
    for person in people:
        always_on(person)
    far = worker(world, "far", areas=[world.district])
    always_on(far)

    quick = choose_worker(world.unit1, world.point1(), world.grid1, timezone.now())
    full = choose_worker(world.unit1, world.point1(), world.grid1, timezone.now(), detail=0)

    assert quick.ranking[-1].workload is None  # beyond the top three: not needed
    assert all(c.workload is not None for c in full.ranking)
    assert [c.worker for c in quick.ranking] == [c.worker for c in full.ranking]


# --- Positions -----------------------------------------------------------------------------


def test_it_places_people_at_their_first_area_else_their_units(world: World) -> None:
    community = world.grid1.parent
    two_areas = worker(world, "two", areas=[world.grid1, community])
    no_areas = worker(world, "none")
    no_unit = create_staff(username="free", roles=[Role.WORKER])

    positions = latest_positions([two_areas, no_areas, no_unit])

    # The first area in tree order: the community before its grid.
    assert positions[two_areas.pk] == centre(community)
    assert positions[no_areas.pk] == centre(world.street1)  # unit one serves street one
    assert no_unit.pk not in positions
    assert latest_positions([]) == {}


def test_positions_are_kept_until_an_edit_moves_someone(
    world: World, django_assert_num_queries: Any
) -> None:
    person = worker(world, "kept", areas=[world.grid1])
    first = latest_positions([person])
    with django_assert_num_queries(0):
        assert latest_positions([person]) == first == {person.pk: centre(world.grid1)}

    person.profile.areas.set([world.grid2])  # a new area: read again at once
    assert latest_positions([person]) == {person.pk: centre(world.grid2)}

    world.grid2.center_lat += 0.001  # the area's centre moved
    world.grid2.save()
    assert latest_positions([person]) == {person.pk: centre(world.grid2)}

    person.profile.areas.clear()  # no areas of their own: their unit's first area
    assert latest_positions([person]) == {person.pk: centre(world.street1)}
    world.unit1.areas.set([world.street2])
    assert latest_positions([person]) == {person.pk: centre(world.street2)}


def test_open_workload_counts_what_the_orm_counts(world: World) -> None:
    from django.db.models import Count

    from yunbao.dispatch.assign import IN_HAND, open_workload
    from yunbao.workorders.models import WorkOrder

    busy, idle = worker(world, "busy"), worker(world, "idle")
    for person in (busy, idle):
        always_on(person)
    hand(world, busy)
    hand(world, busy)
    hand(world, idle, finish=True)  # handled: no longer in hand
    ids = [busy.pk, idle.pk, world.users["erin"].pk]

    expected = dict(
        WorkOrder.objects.filter(worker_id__in=ids, status__in=IN_HAND)
        .order_by()
        .values("worker_id")
        .annotate(n=Count("id"))
        .values_list("worker_id", "n")
    )
    assert open_workload(ids) == expected == {busy.pk: 2}
    assert open_workload([]) == {}


def test_the_pool_finds_who_covers_an_area_as_on_duty_does(world: World) -> None:
    community = world.grid1.parent
    people = [
        worker(world, "grid", areas=[world.grid1]),
        worker(world, "community", areas=[community]),
        worker(world, "street2", areas=[world.street2]),
        worker(world, "both", areas=[world.grid2, world.grid1]),
        worker(world, "anywhere"),
    ]
    for person in people:
        always_on(person)
    at = timezone.now()
    for area in (world.grid1, world.grid2, community, world.street1, world.street2, world.district):
        assert people_on_duty(world.unit1, area, at) == on_duty(world.unit1, area, at), area
