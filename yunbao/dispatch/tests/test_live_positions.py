"""Where dispatch places a worker once badges report: a fresh badge fix beats the centre of
their area; stale fixes, switched-off badges, fixes without a GPS lock and vehicles do not
count; of several badges the newest fix wins; fixes are never cached, area centres are.
And the console's map: workers at their last fix with its time, and the vehicles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from yunbao.dispatch.assign import choose_worker
from yunbao.dispatch.policy import clear_caches
from yunbao.dispatch.positions import latest_positions
from yunbao.fleet.tests.live_helpers import badge, latest, vehicle
from yunbao.org.actions import create_staff
from yunbao.org.models import Role, Shift
from yunbao.testing import World

pytestmark = pytest.mark.django_db

QUEUE = reverse("dispatch-console-queue")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def worker(world: World, name: str, **kwargs: Any) -> User:
    kwargs.setdefault("unit", world.unit1)
    kwargs.setdefault("areas", [world.street1])
    return create_staff(username=name, roles=[Role.WORKER], **kwargs)


def centre(area: Any) -> tuple[float, float]:
    return area.center_lat, area.center_lon


def ago(minutes: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=minutes)


HERE = (23.0012, 113.0017)


def test_a_fresh_fix_beats_the_area_centre(world: World) -> None:
    person = worker(world, "fresh")
    latest(badge(person), ago(2), *HERE)
    assert latest_positions([person]) == {person.pk: HERE}


def test_a_stale_fix_is_ignored(world: World, settings: Any) -> None:
    settings.YUNBAO_FLEET_POSITION_MAX_AGE_MINUTES = 15
    person = worker(world, "stale")
    latest(badge(person), ago(16), *HERE)
    assert latest_positions([person]) == {person.pk: centre(world.street1)}
    settings.YUNBAO_FLEET_POSITION_MAX_AGE_MINUTES = 20  # the setting decides
    assert latest_positions([person]) == {person.pk: HERE}


def test_of_two_badges_the_newest_fix_wins(world: World) -> None:
    person = worker(world, "two")
    latest(badge(person), ago(1), *HERE)
    latest(badge(person), ago(5), 23.0001, 113.0001)
    assert latest_positions([person]) == {person.pk: HERE}


def test_switched_off_badges_unlocked_fixes_and_vehicles_do_not_count(world: World) -> None:
    person = worker(world, "off")
    latest(badge(person, active=False), ago(1), *HERE)
    latest(badge(person), ago(1), 23.0002, 113.0002, valid=False)
    latest(vehicle(world.unit1, staff=person), ago(1), 23.0003, 113.0003)  # the truck they drive
    assert latest_positions([person]) == {person.pk: centre(world.street1)}


def test_fixes_are_read_every_time_area_centres_are_kept(
    world: World, django_assert_num_queries: Any
) -> None:
    carrier, walker = worker(world, "carrier"), worker(world, "walker")
    tag = badge(carrier)
    latest(tag, ago(3), *HERE)
    assert latest_positions([carrier, walker]) == {
        carrier.pk: HERE,
        walker.pk: centre(world.street1),
    }
    # Nobody asked for carries a badge: nothing to read.
    with django_assert_num_queries(0):
        assert latest_positions([walker]) == {walker.pk: centre(world.street1)}
    # The badge moved: seen at once, in one query (the centres stay cached).
    latest(tag, ago(0), 23.0015, 113.0015)
    with django_assert_num_queries(1):
        assert latest_positions([carrier, walker])[carrier.pk] == (23.0015, 113.0015)


def test_a_badge_given_to_someone_counts_at_once(world: World) -> None:
    person = worker(world, "new")
    assert latest_positions([person]) == {person.pk: centre(world.street1)}
    tag = badge(None, unit=world.unit1)
    latest(tag, ago(1), *HERE)
    tag.staff = person
    tag.save()  # through the admin: the cache of who carries a badge is cleared
    assert latest_positions([person]) == {person.pk: HERE}


def test_the_nearest_worker_is_chosen_by_live_fixes(world: World) -> None:
    near, far = worker(world, "near"), worker(world, "far")
    for person in (near, far):
        for day in range(7):
            Shift.objects.create(user=person, weekday=day, start=dt.time(0), end=dt.time(0))
    point = world.point1()
    latest(badge(near), ago(1), point[0] + 0.0001, point[1])
    latest(badge(far), ago(1), point[0] + 0.0015, point[1])
    # By area centres they would tie (same street); by their badges "near" is nearer.
    chosen = choose_worker(world.unit1, point, world.grid1, timezone.now())
    assert chosen.worker == near
    assert chosen.ranking[0].distance_m is not None
    assert chosen.ranking[0].distance_m < 20


# --- The console's map ---------------------------------------------------------------------


def test_the_console_draws_workers_at_their_last_fix_and_the_vehicles(world: World) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    for person in (bob, bill, world.users["walt"]):
        for day in range(7):
            Shift.objects.create(user=person, weekday=day, start=dt.time(0), end=dt.time(0))
    tag = badge(bob)
    seen = ago(40)  # stale, still drawn where it was (the page greys it)
    latest(tag, seen, *HERE)
    sweeper = vehicle(world.unit1, plate="粤A10001")
    latest(sweeper, ago(1), 23.0005, 113.0005, speed=9.0)
    truck = vehicle(world.unit2, plate="粤A20002")
    latest(truck, ago(1), *world.point2())
    vehicle(world.unit1, plate="粤A30003")  # never reported: nothing to draw

    client = Client()
    client.force_login(world.users["alice"])
    data = client.get(QUEUE).json()
    workers = {w["name"]: w for w in data["workers"]}
    assert set(workers) == {"bob", "bill"}
    assert (workers["bob"]["lat"], workers["bob"]["lon"]) == HERE
    assert dt.datetime.fromisoformat(workers["bob"]["seen"]) == seen
    assert workers["bob"]["track"] == reverse("fleet:track", args=[tag.pk])
    assert workers["bill"]["seen"] is None
    assert (workers["bill"]["lat"], workers["bill"]["lon"]) == (
        round(world.street1.center_lat, 6),
        round(world.street1.center_lon, 6),
    )
    assert [(v["label"], v["speed"]) for v in data["vehicles"]] == [("粤A10001", 9.0)]

    olga = Client()
    olga.force_login(world.users["olga"])
    assert [v["label"] for v in olga.get(QUEUE).json()["vehicles"]] == ["粤A20002"]
    page = client.get(reverse("dispatch-console")).content.decode()
    assert 'data-stale-after="900"' in page
