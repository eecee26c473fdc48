"""The live map, its JSON, the device list and the track page: who sees which devices, what
they show, and what bad input gets."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from yunbao.fleet import tracks
from yunbao.fleet.devices import latest_for_users, visible_devices
from yunbao.fleet.models import Device
from yunbao.fleet.tests.live_helpers import badge, fix, latest, store, vehicle
from yunbao.org.actions import create_staff
from yunbao.org.models import Role
from yunbao.testing import World

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIVE = "/fleet/live/"
LIVE_JSON = "/fleet/live.json"
DEVICES = "/fleet/devices/"


def track_url(device: Device, day: dt.date | str | None = None) -> str:
    url = reverse("fleet:track", args=[device.pk])
    return url if day is None else f"{url}?day={day}"


def client_for(world: World, name: str) -> Client:
    client = Client()
    client.force_login(world.users[name])
    return client


def zh(message: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(message)


@pytest.fixture(autouse=True)
def _shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def fleet(world: World) -> dict[str, Device]:
    """Street one: a sweeper of unit one and Bob's badge; street two: a truck of unit two
    and Walt's badge; and a terminal nobody claimed. Each reported a minute ago."""
    devices = {
        "sweeper": vehicle(world.unit1, plate="粤A10001"),
        "bob": badge(world.users["bob"]),
        "truck": vehicle(world.unit2, plate="粤A20002"),
        "walt": badge(world.users["walt"]),
        "stray": Device.objects.create(
            kind="vehicle", protocol="jt808", identifier="99", registered_automatically=True
        ),
    }
    at = timezone.now() - dt.timedelta(minutes=1)
    lat1, lon1 = world.point1()
    lat2, lon2 = world.point2()
    for name, device in devices.items():
        lat, lon = (lat2, lon2) if name in ("truck", "walt") else (lat1, lon1)
        latest(device, at, lat, lon, speed=12.5)
    return devices


def script(html: str, name: str) -> str:
    """The text of the page's `json_script` called `name`."""
    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html)
    assert found is not None, name
    return found[1]


def live_ids(client: Client) -> set[int]:
    response = client.get(LIVE_JSON)
    assert response.status_code == 200
    return {row["id"] for row in response.json()["devices"]}


# --- Who sees what -------------------------------------------------------------------------


def test_each_person_sees_the_devices_of_their_area(world: World, fleet: dict[str, Device]) -> None:
    ids = {name: device.pk for name, device in fleet.items()}
    street1 = {ids["sweeper"], ids["bob"]}
    street2 = {ids["truck"], ids["walt"]}
    assert live_ids(client_for(world, "alice")) == street1  # dispatcher of street one
    assert live_ids(client_for(world, "olga")) == street2  # dispatcher of street two
    assert live_ids(client_for(world, "carol")) == street1  # supervisor of unit one
    # The district's manager also sees the terminal nobody claimed yet.
    assert live_ids(client_for(world, "dave")) == street1 | street2 | {ids["stray"]}
    assert live_ids(client_for(world, "ada")) == set(ids.values())


def test_a_unit_leader_sees_their_units_devices(world: World, fleet: dict[str, Device]) -> None:
    leader = create_staff(username="lee", roles=[Role.ORGANISER])
    world.unit2.leader = leader
    world.unit2.save()
    client = Client()
    client.force_login(leader)
    assert live_ids(client) == {fleet["truck"].pk, fleet["walt"].pk}
    assert client.get(LIVE).status_code == 200


def test_a_supervisor_sees_their_unit_beyond_their_areas(
    world: World, fleet: dict[str, Device]
) -> None:
    far = vehicle(world.unit1, plate="粤A30003")  # unit one's, no matter where it works
    carol = world.users["carol"]
    carol.profile.areas.clear()
    assert set(visible_devices(carol)) == {fleet["sweeper"], fleet["bob"], far}


def test_a_worker_sees_only_their_own_badge(world: World, fleet: dict[str, Device]) -> None:
    bob = client_for(world, "bob")
    assert bob.get(LIVE).status_code == 403
    assert bob.get(LIVE_JSON).status_code == 403
    page = bob.get(DEVICES)
    assert page.status_code == 200
    assert [d.pk for d in page.context["page"].object_list] == [fleet["bob"].pk]
    assert bob.get(track_url(fleet["bob"])).status_code == 200
    assert bob.get(track_url(fleet["sweeper"])).status_code == 404
    assert bob.get(track_url(fleet["walt"])).status_code == 404


def test_residents_and_inspectors_get_nothing(world: World, fleet: dict[str, Device]) -> None:
    for name in ("erin", "fay", "oscar"):
        client = client_for(world, name)
        for url in (LIVE, LIVE_JSON, DEVICES, track_url(fleet["sweeper"])):
            response = client.get(url)
            assert response.status_code == 403, (name, url)
        assert zh("Back to your work") in client.get(LIVE).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(fleet: dict[str, Device]) -> None:
    for url in (LIVE, LIVE_JSON, DEVICES, track_url(fleet["sweeper"])):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_another_areas_device_is_not_found(world: World, fleet: dict[str, Device]) -> None:
    alice = client_for(world, "alice")
    assert alice.get(track_url(fleet["truck"])).status_code == 404
    assert alice.get(track_url(fleet["stray"])).status_code == 404
    assert alice.get("/fleet/devices/999999/track/").status_code == 404
    assert client_for(world, "olga").get(track_url(fleet["truck"])).status_code == 200


def test_pages_are_read_only(world: World, fleet: dict[str, Device]) -> None:
    alice = client_for(world, "alice")
    for url in (LIVE, LIVE_JSON, DEVICES, track_url(fleet["sweeper"])):
        assert alice.post(url).status_code == 405


# --- The live map --------------------------------------------------------------------------


def test_live_json_says_what_the_map_draws(world: World, fleet: dict[str, Device]) -> None:
    rows = {r["id"]: r for r in client_for(world, "alice").get(LIVE_JSON).json()["devices"]}
    sweeper = rows[fleet["sweeper"].pk]
    assert sweeper["kind"] == "vehicle"
    assert sweeper["label"] == "粤A10001"
    assert sweeper["unit"] == world.unit1.name
    assert (sweeper["lat"], sweeper["lon"]) == world.point1()
    assert sweeper["speed"] == 12.5
    assert sweeper["track"] == track_url(fleet["sweeper"])
    seen = dt.datetime.fromisoformat(sweeper["seen"])
    assert timezone.now() - seen < dt.timedelta(minutes=2)
    bob = rows[fleet["bob"].pk]
    assert bob["kind"] == "badge"
    assert bob["label"] == bob["staff"] == "bob"


def test_live_json_is_304_until_something_moves(world: World, fleet: dict[str, Device]) -> None:
    alice = client_for(world, "alice")
    first = alice.get(LIVE_JSON)
    version = first.json()["version"]
    assert first["ETag"] == f'"{version}"'
    assert first["Cache-Control"] == "private, no-cache"
    assert alice.get(LIVE_JSON, headers={"if-none-match": f'"{version}"'}).status_code == 304
    lat, lon = world.point1()
    latest(fleet["sweeper"], timezone.now(), lat + 0.0002, lon)
    moved = alice.get(LIVE_JSON, headers={"if-none-match": f'"{version}"'})
    assert moved.status_code == 200
    assert moved.json()["version"] != version


def test_live_json_filters_by_kind_and_refuses_nonsense(
    world: World, fleet: dict[str, Device]
) -> None:
    dave = client_for(world, "dave")
    vehicles = dave.get(LIVE_JSON, {"kind": "vehicle"}).json()["devices"]
    assert {r["id"] for r in vehicles} == {
        fleet["sweeper"].pk,
        fleet["truck"].pk,
        fleet["stray"].pk,
    }
    bad = dave.get(LIVE_JSON, {"kind": "<script>"})
    assert bad.status_code == 400
    assert "error" in bad.json()


def test_live_json_costs_the_same_for_many_devices(
    world: World, fleet: dict[str, Device], django_assert_max_num_queries: Any
) -> None:
    alice = client_for(world, "alice")
    alice.get(LIVE_JSON)  # the session and roles, read once
    with django_assert_max_num_queries(8) as few:
        alice.get(LIVE_JSON)
    lat, lon = world.point1()
    for i in range(30):
        latest(vehicle(world.unit1), timezone.now(), lat, lon + i * 1e-5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        rows = alice.get(LIVE_JSON).json()["devices"]
    assert len(rows) == 32


def test_the_live_page_carries_its_first_answer(world: World, fleet: dict[str, Device]) -> None:
    response = client_for(world, "alice").get(LIVE)
    assert response.status_code == 200
    html = response.content.decode()
    initial = json.loads(script(html, "live-initial"))
    assert {row["label"] for row in initial["devices"]} == {"粤A10001", "bob"}
    assert 'data-stale-after="900"' in html
    assert "fleet/live.js" in html


# --- The device list -----------------------------------------------------------------------


def test_the_device_list_filters_and_links_to_tracks(
    world: World, fleet: dict[str, Device]
) -> None:
    dave = client_for(world, "dave")
    html = dave.get(DEVICES).content.decode()
    for device in fleet.values():
        assert f'href="{track_url(device)}"' in html
    vehicles = dave.get(DEVICES, {"kind": "vehicle"}).context["page"].object_list
    assert {d.pk for d in vehicles} == {fleet["sweeper"].pk, fleet["truck"].pk, fleet["stray"].pk}
    unit2 = dave.get(DEVICES, {"unit": world.unit2.pk}).context["page"].object_list
    assert {d.pk for d in unit2} == {fleet["truck"].pk, fleet["walt"].pk}
    found = dave.get(DEVICES, {"q": "20002"}).context["page"].object_list
    assert [d.pk for d in found] == [fleet["truck"].pk]
    by_name = dave.get(DEVICES, {"q": "wal"}).context["page"].object_list
    assert [d.pk for d in by_name] == [fleet["walt"].pk]


def test_the_device_list_greys_old_fixes(world: World, fleet: dict[str, Device]) -> None:
    lat, lon = world.point1()
    old = vehicle(world.unit1, plate="粤A40004")
    latest(old, timezone.now() - dt.timedelta(hours=2), lat, lon)
    rows = {r["device"].pk: r for r in client_for(world, "alice").get(DEVICES).context["rows"]}
    assert rows[old.pk]["stale"] is True
    assert rows[fleet["sweeper"].pk]["stale"] is False


def test_the_device_list_says_what_it_cannot_filter(world: World, fleet: dict[str, Device]) -> None:
    response = client_for(world, "alice").get(DEVICES, {"kind": "spaceship", "unit": "x"})
    assert response.status_code == 400
    assert len(response.context["problems"]) == 2


# --- The track page ------------------------------------------------------------------------


def morning(day: dt.date, device: Device, world: World) -> list[Any]:
    """08:00-08:30 northward at 12 km/h, a fix every 30 s, with one stray fix."""
    lat, lon = world.point1()
    start = dt.datetime.combine(day, dt.time(8), SHANGHAI)
    rows = [
        fix(device, start + dt.timedelta(seconds=30 * i), lat + i * 0.0009, lon, speed=12.0)
        for i in range(61)
    ]
    rows.append(fix(device, start + dt.timedelta(seconds=45), lat, lon + 0.5))  # a spike
    return store(rows)


def test_the_track_page_shows_the_days_distance_and_points(
    world: World, fleet: dict[str, Device]
) -> None:
    day = dt.date(2025, 3, 3)
    morning(day, fleet["sweeper"], world)
    response = client_for(world, "alice").get(track_url(fleet["sweeper"], day))
    assert response.status_code == 200
    expected = tracks.day_track(fleet["sweeper"].pk, day)
    assert expected.spikes == 1
    assert response.context["track"].distance_m == pytest.approx(expected.distance_m)
    html = response.content.decode()
    assert f'<b id="f-distance">{expected.distance_m / 1000:.1f}</b>' in html
    points = json.loads(script(html, "track-points"))
    assert len(points) == 61
    assert points[0][0] == int(dt.datetime.combine(day, dt.time(8), SHANGHAI).timestamp())
    assert points[-1][4] == round(expected.distance_m)
    assert "?day=2025-03-02" in html
    assert "?day=2025-03-04" in html
    assert 'id="f-slider"' in html


def test_the_track_defaults_to_today_and_offers_no_tomorrow(
    world: World, fleet: dict[str, Device]
) -> None:
    response = client_for(world, "alice").get(track_url(fleet["sweeper"]))
    assert response.status_code == 200
    today = timezone.localdate()
    assert response.context["day"] == today
    assert response.context["next"] is None
    # The minute-old fix of the fixture is today's track.
    assert len(response.context["points"]) == 1


def test_an_empty_day_says_so(world: World, fleet: dict[str, Device]) -> None:
    response = client_for(world, "alice").get(track_url(fleet["sweeper"], "2024-01-01"))
    assert response.status_code == 200
    assert zh("No positions on this day.") in response.content.decode()


@pytest.mark.parametrize("day", ["yesterday", "2025-13-01", "2025-03-03T08:00", "1999-12-31"])
def test_a_bad_day_is_refused(world: World, fleet: dict[str, Device], day: str) -> None:
    response = client_for(world, "alice").get(track_url(fleet["sweeper"], day))
    assert response.status_code == 400
    assert response.context["error"]


def test_a_day_far_ahead_is_refused(world: World, fleet: dict[str, Device]) -> None:
    later = timezone.localdate() + dt.timedelta(days=30)
    response = client_for(world, "alice").get(track_url(fleet["sweeper"], later))
    assert response.status_code == 400


def test_latest_for_users_reads_every_badge_in_one_query(
    world: World, django_assert_num_queries: Any
) -> None:
    bob, bill, walt = (world.users[n] for n in ("bob", "bill", "walt"))
    badge(bob)
    second = badge(bob)
    latest(second, timezone.now(), 23.0, 113.0)
    badge(bill)
    with django_assert_num_queries(1):
        found = latest_for_users([bob, bill, walt])
    assert set(found) == {bob.pk, bill.pk}
    newest = found[bob.pk]
    assert newest is not None
    assert newest.device_id == second.pk
    assert found[bill.pk] is None


# --- The demo's fleet ----------------------------------------------------------------------


def test_the_demo_fleet_shows_on_the_map_at_once_and_loads_once(world: World) -> None:
    from yunbao.fleet.demo_fleet import load_fleet
    from yunbao.fleet.models import LatestPosition, Position

    units = {"u1": world.unit1, "u2": world.unit2}
    written = load_fleet(units, world.users, progress=lambda line: None)
    devices = list(Device.objects.all())
    badges = {d.staff.username for d in devices if d.kind == "badge" and d.staff}
    assert badges == {"bob", "bill", "walt"}
    vehicles = [d for d in devices if d.kind == "vehicle"]
    assert len(vehicles) == 8  # four per sanitation unit
    assert len({d.plate for d in vehicles}) == 8
    assert all(d.plate.startswith("粤A") and d.protocol == "jt808" for d in vehicles)
    assert written == Position.objects.count()
    assert LatestPosition.objects.count() == len(devices)
    # Everyone reported within minutes, but the e-bikes, three hours ago.
    now = timezone.now()
    for row in LatestPosition.objects.select_related("device"):
        age = now - row.fixed_at
        if row.device.vehicle_type == "ebike":
            assert age > dt.timedelta(hours=2)
        else:
            assert age < dt.timedelta(minutes=10)
    # A sweeper's day: hours of fixes, kilometres, stops, and the cleaning at work.
    sweeper = next(d for d in vehicles if d.vehicle_type == "sweeper" and d.unit == world.unit1)
    history = list(Position.objects.filter(device=sweeper).order_by("fixed_at"))
    assert len(history) > 600
    track = tracks.analyse(
        [tracks.Fix(p.fixed_at, p.lat, p.lon, p.speed, p.course, p.valid) for p in history]
    )
    assert 30_000 < track.distance_m < 60_000
    assert len(track.stops) >= 3
    assert track.invalid == 1
    assert track.spikes == 1
    # Loading again adds nothing.
    assert load_fleet(units, world.users, progress=lambda line: None) == 0
    assert Device.objects.count() == len(devices)
    assert Position.objects.count() == written


def test_latest_for_users_answers_what_the_orm_answers(world: World) -> None:
    """The plain SQL against the same question asked through the ORM, on a mixed crowd:
    several badges, fixes a fraction of a second apart, stale, unlocked, switched off,
    vehicles, people without a badge."""
    from yunbao.fleet.models import LatestPosition

    now = timezone.now().replace(microsecond=250_000)
    people = [create_staff(username=f"p{i}", roles=[Role.WORKER]) for i in range(12)]
    for i, person in enumerate(people):
        if i % 4 == 3:
            continue  # no badge
        first, second = badge(person), badge(person, active=i % 5 != 0)
        latest(first, now - dt.timedelta(minutes=i), 23.0 + i * 1e-4, 113.0)
        if i % 3 == 0:  # half a second newer, or unlocked
            latest(second, now - dt.timedelta(minutes=i) + dt.timedelta(seconds=0.5), 23.5, 113.5)
        elif i % 3 == 1:
            latest(second, now, 23.6, 113.6, valid=False)
        latest(vehicle(staff=person), now, 24.0, 114.0)

    def by_orm(since: dt.datetime | None) -> dict[int | None, Any]:
        answer: dict[int | None, Any] = {}
        for device in Device.objects.filter(kind="badge", active=True, staff__in=people):
            answer.setdefault(device.staff_id, None)
        fixes = LatestPosition.objects.filter(
            device__kind="badge", device__active=True, device__staff__in=people, valid=True
        )
        if since is not None:
            fixes = fixes.filter(fixed_at__gte=since)
        for fix_ in fixes.select_related("device").order_by("fixed_at"):
            answer[fix_.device.staff_id] = (fix_.device_id, fix_.lat, fix_.lon, fix_.fixed_at)
        return answer

    for since in (None, now - dt.timedelta(minutes=5)):
        found = latest_for_users(people, since=since)
        plain = {
            k: None if v is None else (v.device_id, v.lat, v.lon, v.fixed_at)
            for k, v in found.items()
        }
        assert plain == by_orm(since)
        assert len(plain) == 9  # three people carry no badge
        # Some fixes are too old for `since`; their people still carry a badge.
        assert any(v is None for v in plain.values()) == (since is not None)
