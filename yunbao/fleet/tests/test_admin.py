"""The fleet's admin pages: devices edited (identities normalised, auth codes shown and
regenerated, unit scope), positions and latest positions read-only, the big table never
counted or sorted whole."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import translation

from yunbao.fleet.admin import CappedPaginator, PositionAdmin
from yunbao.fleet.models import Device, LatestPosition, Position
from yunbao.fleet.tests.live_helpers import badge, fix, latest, store, vehicle
from yunbao.testing import World

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEVICES = reverse("admin:fleet_device_changelist")
ADD = reverse("admin:fleet_device_add")
POSITIONS = reverse("admin:fleet_position_changelist")
LATEST = reverse("admin:fleet_latestposition_changelist")


@pytest.fixture(autouse=True)
def _shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


def admin_client(world: World, name: str = "ada") -> Client:
    client = Client()
    client.force_login(world.users[name])
    return client


def change_url(device: Device) -> str:
    return reverse("admin:fleet_device_change", args=[device.pk])


def form_data(**fields: Any) -> dict[str, Any]:
    data = {
        "kind": "vehicle",
        "name": "",
        "protocol": "jt808",
        "identifier": "",
        "vehicle_type": "",
        "plate": "",
        "unit": "",
        "staff": "",
        "active": "on",
    }
    data.update({k: v for k, v in fields.items() if v is not None})
    return data


def listed(response: Any) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


# --- Devices -------------------------------------------------------------------------------


def test_the_device_list_shows_who_and_when(world: World) -> None:
    sweeper = vehicle(world.unit1, plate="粤A12345")
    tag = badge(world.users["bob"])
    latest(sweeper, dt.datetime(2025, 3, 3, 9, 30, tzinfo=SHANGHAI), 23.0, 113.0)
    response = admin_client(world).get(DEVICES)
    assert response.status_code == 200
    html = response.content.decode()
    assert "粤A12345" in html
    assert "2025" in html  # the sweeper's last fix
    assert f"{POSITIONS}?device={sweeper.pk}" in html
    assert reverse("fleet:track", args=[tag.pk]) in html
    found = admin_client(world).get(DEVICES, {"q": "12345"})
    assert listed(found) == {sweeper.pk}
    badges = admin_client(world).get(DEVICES, {"kind__exact": "badge"})
    assert listed(badges) == {tag.pk}


def test_a_jt808_number_is_stored_without_leading_zeros(world: World) -> None:
    response = admin_client(world).post(
        ADD,
        form_data(
            identifier=" 013800138000 ",
            vehicle_type="garbage_truck",
            plate="粤a54321",
            unit=world.unit1.pk,
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    device = Device.objects.get()
    assert device.identifier == "13800138000"
    assert device.plate == "粤A54321"
    assert len(device.auth_code) == 16  # made on creation


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"identifier": "138-0013-800a"}, "identifier"),
        ({"identifier": "0000"}, "identifier"),
        ({"identifier": "1" * 21}, "identifier"),
        ({"identifier": "１３８"}, "identifier"),  # full-width digits
        ({"protocol": "osmand", "identifier": "my phone"}, "identifier"),
        ({"protocol": "osmand", "identifier": ""}, "identifier"),
        ({"kind": "badge", "protocol": "osmand", "identifier": "b1", "plate": "粤A1"}, "plate"),
        (
            {"kind": "badge", "protocol": "osmand", "identifier": "b1", "vehicle_type": "sweeper"},
            "vehicle_type",
        ),
    ],
)
def test_bad_devices_are_refused_with_a_reason(
    world: World, fields: dict[str, str], field: str
) -> None:
    fields.setdefault("identifier", "13800138000")
    response = admin_client(world).post(ADD, form_data(**fields))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Device.objects.exists()


def test_the_same_identity_twice_is_refused(world: World) -> None:
    vehicle(identifier="13800138000")
    response = admin_client(world).post(ADD, form_data(identifier="0013800138000"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Device.objects.count() == 1


def test_the_auth_code_is_shown_and_can_be_regenerated(world: World) -> None:
    device = vehicle(world.unit1)
    old = device.auth_code
    client = admin_client(world)
    assert old in client.get(change_url(device)).content.decode()
    data = form_data(
        identifier=device.identifier,
        vehicle_type=device.vehicle_type,
        plate=device.plate,
        unit=world.unit1.pk,
    )
    client.post(change_url(device), data)  # an edit without the box keeps the code
    device.refresh_from_db()
    assert device.auth_code == old
    client.post(change_url(device), {**data, "regenerate_auth_code": "on"})
    device.refresh_from_db()
    assert device.auth_code != old
    assert len(device.auth_code) == 16


def test_the_list_action_regenerates_several_codes(world: World) -> None:
    one, two, other = vehicle(world.unit1), vehicle(world.unit1), vehicle(world.unit2)
    before = {d.pk: d.auth_code for d in (one, two, other)}
    response = admin_client(world).post(
        DEVICES,
        {"action": "regenerate_auth_codes", "_selected_action": [one.pk, two.pk]},
    )
    assert response.status_code == 302
    after = dict(Device.objects.values_list("pk", "auth_code"))
    assert after[one.pk] != before[one.pk]
    assert after[two.pk] != before[two.pk]
    assert after[other.pk] == before[other.pk]


def test_a_supervisor_with_fleet_rights_manages_only_their_unit(world: World) -> None:
    carol = world.users["carol"]
    carol.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="fleet",
            codename__in=["view_device", "change_device", "add_device", "view_position"],
        )
    )
    mine, bobs, theirs = vehicle(world.unit1), badge(world.users["bob"]), vehicle(world.unit2)
    client = admin_client(world, "carol")
    assert listed(client.get(DEVICES)) == {mine.pk, bobs.pk}
    assert client.get(change_url(theirs)).status_code == 302  # "does not exist": to the list
    form = client.get(ADD).context["adminform"].form
    assert list(form.fields["unit"].queryset) == [world.unit1]
    assert form.fields["unit"].required
    staff = {u.username for u in form.fields["staff"].queryset}
    assert staff == {"bob", "bill", "carol"}
    # Another unit's device cannot be made: the unit is not among the choices.
    response = client.post(ADD, form_data(identifier="13900000001", unit=world.unit2.pk))
    assert "unit" in response.context["adminform"].form.errors
    # Positions: only their unit's devices, even by URL.
    store([fix(theirs, dt.datetime(2025, 3, 3, 9, tzinfo=SHANGHAI), 23.0, 113.0)])
    assert listed(client.get(POSITIONS, {"device": theirs.pk})) == set()


def test_a_manager_sees_and_changes_every_device_but_deletes_none(world: World) -> None:
    one, two = vehicle(world.unit1), vehicle(world.unit2)
    client = admin_client(world, "dave")
    assert listed(client.get(DEVICES)) == {one.pk, two.pk}
    response = client.post(
        change_url(one), form_data(identifier="13900000009", unit=world.unit2.pk)
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    one.refresh_from_db()
    assert (one.identifier, one.unit_id) == ("13900000009", world.unit2.pk)
    assert client.post(reverse("admin:fleet_device_delete", args=[two.pk])).status_code == 403
    assert Device.objects.filter(pk=two.pk).exists()


def test_a_supervisor_has_the_fleet_permissions_by_role(world: World) -> None:
    carol = world.users["carol"]
    assert carol.has_perm("fleet.change_device")
    assert carol.has_perm("fleet.view_position")
    assert not carol.has_perm("fleet.add_device")
    assert not carol.has_perm("fleet.delete_device")


# --- Positions -----------------------------------------------------------------------------


def day_of_fixes(device: Device, day: dt.date, n: int = 5) -> list[Position]:
    start = dt.datetime.combine(day, dt.time(9), SHANGHAI)
    return store(
        fix(device, start + dt.timedelta(minutes=i), 23.0 + i * 1e-4, 113.0) for i in range(n)
    )


def test_positions_are_listed_for_one_device_at_a_time(world: World) -> None:
    one, two = vehicle(world.unit1), vehicle(world.unit2)
    day = dt.date(2025, 3, 3)
    mine = day_of_fixes(one, day)
    day_of_fixes(two, day)
    client = admin_client(world)
    nothing = client.get(POSITIONS)
    assert nothing.status_code == 200
    assert listed(nothing) == set()
    with translation.override("zh-hans"):
        hint = translation.gettext(
            "Choose a device (in the filter, or from the device list) to list its "
            "positions; the day filter narrows them to one day."
        )
    assert hint in [str(m) for m in nothing.context["messages"]]
    chosen = client.get(POSITIONS, {"device": one.pk})
    assert listed(chosen) == {p.pk for p in mine}
    # Newest first.
    assert [p.pk for p in chosen.context["cl"].result_list] == [p.pk for p in reversed(mine)]
    assert chosen.context["cl"].show_full_result_count is False


def test_positions_are_narrowed_to_a_local_day(world: World) -> None:
    device = vehicle(world.unit1)
    day = dt.date(2025, 3, 3)
    that_day = day_of_fixes(device, day)
    day_of_fixes(device, day + dt.timedelta(days=1))
    # 23:30 local is still the day, though it is 15:30 UTC.
    late = store([fix(device, dt.datetime(2025, 3, 3, 23, 30, tzinfo=SHANGHAI), 23.0, 113.0)])
    response = admin_client(world).get(POSITIONS, {"device": str(device.pk), "day": "2025-03-03"})
    assert listed(response) == {p.pk for p in that_day + late}


@pytest.mark.parametrize("params", [{"device": "x"}, {"device": "1", "day": "03/03/2025"}])
def test_bad_position_filters_are_refused(world: World, params: dict[str, str]) -> None:
    response = admin_client(world).get(POSITIONS, params)
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_positions_cannot_be_added_changed_or_deleted(world: World) -> None:
    device = vehicle(world.unit1)
    position = day_of_fixes(device, dt.date(2025, 3, 3), n=1)[0]
    client = admin_client(world)
    assert client.get(reverse("admin:fleet_position_add")).status_code == 403
    page = client.get(reverse("admin:fleet_position_change", args=[position.pk]))
    assert page.status_code == 200  # view only
    assert b'name="_save"' not in page.content
    assert (
        client.post(reverse("admin:fleet_position_delete", args=[position.pk])).status_code == 403
    )
    assert Position.objects.filter(pk=position.pk).exists()


def test_the_count_is_capped(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CappedPaginator, "CAP", 3)
    monkeypatch.setattr(PositionAdmin, "list_per_page", 2)
    device = vehicle(world.unit1)
    positions = day_of_fixes(device, dt.date(2025, 3, 3), n=7)
    client = admin_client(world)
    first = client.get(POSITIONS, {"device": device.pk})
    assert first.context["cl"].result_count == 3  # not 7: counting stopped at the cap
    assert [p.pk for p in first.context["cl"].result_list] == [positions[6].pk, positions[5].pk]
    second = client.get(POSITIONS, {"device": device.pk, "p": 2})
    assert [p.pk for p in second.context["cl"].result_list] == [positions[4].pk]


def test_latest_positions_are_read_only(world: World) -> None:
    one, two = vehicle(world.unit1), vehicle(world.unit2)
    latest(one, dt.datetime(2025, 3, 3, 9, tzinfo=SHANGHAI), 23.0, 113.0)
    latest(two, dt.datetime(2025, 3, 3, 10, tzinfo=SHANGHAI), 23.0, 113.01)
    client = admin_client(world)
    response = client.get(LATEST)
    assert response.status_code == 200
    assert listed(response) == {one.pk, two.pk}
    assert listed(client.get(LATEST, {"q": two.plate})) == {two.pk}
    assert client.get(reverse("admin:fleet_latestposition_add")).status_code == 403
    assert LatestPosition.objects.count() == 2
