"""API keys in the admin (shown once, stored hashed), service attributes' checks, the
order-page panel, and the demo's jurisdiction, attributes and printed key."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import Client

from yunbao.geo.actions import update_area
from yunbao.lib import apikeys
from yunbao.open311 import demo
from yunbao.open311.models import ApiClient, Jurisdiction, ServiceAttribute
from yunbao.open311.tests.conftest import BASE, Town, error_descriptions
from yunbao.testing import World
from yunbao.workorders.models import WorkOrder

pytestmark = pytest.mark.django_db


def report(client: Client, town: Town, key: str) -> Any:
    lat, lon = town.world.point1()
    return client.post(
        f"{BASE}/requests.json",
        {"api_key": key, "service_code": "E9901", "lat": lat, "long": lon, "description": "垃圾"},
    )


def _key_in(messages: list[str]) -> str:
    words = [w for m in messages for w in m.replace("：", " ").split() if w.startswith("o311_")]
    assert len(words) == 1, messages
    return words[0]


def test_adding_a_client_shows_its_key_once_and_stores_only_the_hash(
    admin_client: Client, client: Client, town: Town
) -> None:
    response = admin_client.post(
        "/admin/open311/apiclient/add/",
        {"name": "City app", "contact": "it@example.org", "active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    key = _key_in(
        [str(m) for m in get_messages(response.wsgi_request)] or [response.content.decode()]
    )
    stored = ApiClient.objects.get(name="City app")
    assert stored.key_prefix == apikeys.split_prefix(key)
    assert stored.key_hash == apikeys.hash_key(key)
    assert key not in {str(v) for v in ApiClient.objects.values_list(flat=False).get(pk=stored.pk)}
    assert report(client, town, key).status_code == 200
    page = admin_client.get(f"/admin/open311/apiclient/{stored.pk}/change/").content.decode()
    assert key not in page
    assert stored.key_hash not in page


def test_a_new_key_replaces_the_old_one(admin_client: Client, client: Client, town: Town) -> None:
    response = admin_client.post(
        "/admin/open311/apiclient/",
        {"action": "new_key", "_selected_action": [town.api_client.pk]},
        follow=True,
    )
    new = _key_in([str(m) for m in get_messages(response.wsgi_request)])
    assert new != town.key
    assert report(client, town, town.key).status_code == 403
    assert report(client, town, new).status_code == 200


def test_a_list_attribute_needs_well_formed_values(admin_client: Client, world: World) -> None:
    url = "/admin/open311/serviceattribute/add/"
    base = {
        "category": world.category.pk,
        "code": "blocking",
        "variable": "on",
        "datatype": "singlevaluelist",
        "order": "1",
        "description": "挡路吗？",
    }
    for bad in (
        "[]",
        '[{"key": "yes"}]',
        '[{"key": "a", "name": "A"}, {"key": "a", "name": "B"}]',
        '"yes"',
    ):
        response = admin_client.post(url, {**base, "values": bad})
        assert response.status_code == 200, bad  # the form again, with the error
        assert not ServiceAttribute.objects.exists()
    response = admin_client.post(url, {**base, "values": '[{"key": "yes", "name": "是"}]'})
    assert response.status_code == 302
    assert ServiceAttribute.objects.get().keys == {"yes"}
    response = admin_client.post(
        url, {**base, "code": "n", "datatype": "number", "values": '[{"key": "a", "name": "A"}]'}
    )
    assert response.status_code == 200  # only lists have values


def test_the_order_page_shows_the_answers_and_client_notes_to_staff(
    client: Client, town: Town
) -> None:
    ServiceAttribute.objects.create(
        category=town.world.category,
        code="blocking",
        datatype="singlevaluelist",
        description="挡路吗？",
        values=[{"key": "yes", "name": "挡路"}, {"key": "no", "name": "不挡"}],
    )
    lat, lon = town.world.point1()
    number = client.post(
        f"{BASE}/requests.json",
        {
            "api_key": town.key,
            "service_code": "E9901",
            "lat": lat,
            "long": lon,
            "attribute[blocking]": "yes",
            "email": "r@example.org",
        },
    ).json()[0]["service_request_id"]
    client.post(
        f"{BASE}/servicerequestupdates.json",
        {"api_key": town.key, "service_request_id": number, "description": "<script>补充</script>"},
    )
    client.force_login(town.world.users["alice"])
    page = client.get(f"/orders/{number}/").content.decode()
    assert "Test app" in page
    assert "挡路吗？" in page
    assert "挡路" in page
    assert "r@example.org" in page  # staff see the contact
    assert "&lt;script&gt;补充" in page
    assert "<script>补充" not in page
    client.force_login(town.world.users["olga"])  # another street's dispatcher
    assert client.get(f"/orders/{number}/").status_code == 404


def test_the_demo_sets_up_its_jurisdiction_attributes_and_a_stable_key(
    client: Client, world: World, settings: Any
) -> None:
    settings.DEMO = False
    assert demo.ensure_demo_client() is None  # never outside demo mode
    assert not ApiClient.objects.exists()
    settings.DEMO = True
    assert demo.ensure_demo_client() is not None
    assert not Jurisdiction.objects.exists()  # no demo district loaded yet
    update_area(world.district, jurisdiction_id=demo.DEMO_JURISDICTION)
    key = demo.ensure_demo_client()
    assert key is not None
    assert key == demo.ensure_demo_client()
    assert ApiClient.objects.count() == 1
    assert Jurisdiction.objects.get().area == world.district
    assert ServiceAttribute.objects.filter(category__code="E0102", code="blocking").exists()
    services = client.get(f"{BASE}/services.json", {"jurisdiction_id": "demo.yunbao.org"}).json()
    assert {s["service_code"]: s["metadata"] for s in services}["E0102"] is True
    lat, lon = world.point1()
    response = client.post(
        f"{BASE}/requests.json",
        {
            "api_key": key,
            "jurisdiction_id": "demo.yunbao.org",
            "service_code": "E9901",
            "lat": lat,
            "long": lon,
        },
    )
    assert response.status_code == 200, response.content
    # A new secret makes a new key; the old one stops working.
    settings.SECRET_KEY = "another-secret"
    other = demo.ensure_demo_client()
    assert other != key
    assert ApiClient.objects.count() == 1
    refused = client.post(f"{BASE}/requests.json", {"api_key": key})
    assert error_descriptions(refused.json(), 403)
    # Switched off by an administrator: no key is printed.
    ApiClient.objects.update(active=False)
    assert demo.ensure_demo_client() is None
    assert WorkOrder.objects.count() == 1


def test_the_demo_command_prints_the_key_every_time(
    settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.DEMO = True
    call_command("demo", "--orders", "0")
    call_command("demo", "--orders", "0")
    lines = [line for line in capsys.readouterr().out.splitlines() if "o311_" in line]
    assert len(lines) == 2
    assert lines[0] == lines[1]
    assert Jurisdiction.objects.get().jurisdiction_id == "demo.yunbao.org"
    assert ServiceAttribute.objects.filter(
        category__code="C0118", datatype="multivaluelist"
    ).exists()
