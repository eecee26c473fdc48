"""Devices and latest positions: the fleet's own scoping, read-only, no secrets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from yunbao.api.tests.conftest import assert_error
from yunbao.fleet.devices import visible_devices
from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Protocol

DEVICES = "/api/v1/devices"


def make_devices(world: Any) -> dict[str, Device]:
    now = timezone.now()
    made = {
        "truck1": Device.objects.create(
            kind=DeviceKind.VEHICLE,
            protocol=Protocol.JT808,
            identifier="13800000001",
            plate="粤A00001",
            unit=world.unit1,
        ),
        "truck2": Device.objects.create(
            kind=DeviceKind.VEHICLE,
            protocol=Protocol.JT808,
            identifier="13800000002",
            unit=world.unit2,
        ),
        "bob": Device.objects.create(
            kind=DeviceKind.BADGE,
            protocol=Protocol.OSMAND,
            identifier="bob-phone",
            staff=world.users["bob"],
        ),
        "walt": Device.objects.create(
            kind=DeviceKind.BADGE,
            protocol=Protocol.OSMAND,
            identifier="walt-phone",
            staff=world.users["walt"],
        ),
    }
    LatestPosition.objects.create(
        device=made["truck1"], fixed_at=now, received_at=now, lat=23.0005, lon=113.0005, speed=12
    )
    LatestPosition.objects.create(
        device=made["bob"],
        fixed_at=now - timedelta(hours=3),
        received_at=now - timedelta(hours=3),
        lat=23.001,
        lon=113.001,
    )
    return made


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {d["id"] for d in response.json()["results"]}


def test_each_person_sees_the_devices_the_fleet_pages_show_them(world: Any, as_user: Any) -> None:
    devices = make_devices(world)
    for name in ["alice", "bob", "bill", "carol", "dave", "ada", "olga", "walt"]:
        expected = set(visible_devices(world.users[name]).values_list("pk", flat=True))
        assert ids(as_user(name).get(DEVICES)) == expected, name
    assert ids(as_user("bob").get(DEVICES)) == {devices["bob"].pk}  # their own badge
    assert devices["truck2"].pk not in ids(as_user("alice").get(DEVICES))
    assert ids(as_user("ada").get(DEVICES)) == {d.pk for d in devices.values()}


def test_people_without_a_fleet_role_get_403(world: Any, as_user: Any) -> None:
    device = make_devices(world)["truck1"]
    for name in ["erin", "fay", "oscar"]:
        assert_error(as_user(name).get(DEVICES), 403)
        assert_error(as_user(name).get(f"{DEVICES}/{device.pk}"), 403)


def test_one_device_with_its_latest_position_and_no_secret(world: Any, as_user: Any) -> None:
    devices = make_devices(world)
    body = as_user("carol").get(f"{DEVICES}/{devices['truck1'].pk}").json()
    assert body["plate"] == "粤A00001"
    assert body["unit"]["code"] == "u1"
    assert body["position"]["lat"] == 23.0005
    assert body["position"]["speed"] == 12
    assert "auth_code" not in body
    assert devices["truck1"].auth_code not in str(body)
    assert_error(as_user("olga").get(f"{DEVICES}/{devices['truck1'].pk}"), 404)
    assert_error(as_user("carol").get(f"{DEVICES}/{10**30}"), 404)


def test_filters_and_pages(world: Any, as_user: Any) -> None:
    devices = make_devices(world)
    ada = as_user("ada")
    assert ids(ada.get(DEVICES, {"kind": "badge"})) == {devices["bob"].pk, devices["walt"].pk}
    assert ids(ada.get(DEVICES, {"unit": "u2"})) == {devices["truck2"].pk}
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert ids(ada.get(DEVICES, {"seen_since": since})) == {devices["truck1"].pk}
    first = ada.get(DEVICES, {"limit": 3}).json()
    second = ada.get(DEVICES, {"limit": 3, "cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    assert [d["id"] for d in first["results"] + second["results"]] == sorted(
        d.pk for d in devices.values()
    )
    never = [d for d in first["results"] + second["results"] if d["id"] == devices["walt"].pk]
    assert never[0]["position"] is None
