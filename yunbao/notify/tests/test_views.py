"""The preferences page (login required, one's own only) and the admin pages."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from yunbao.notify import actions
from yunbao.notify.models import Channel, Endpoint, EventKind, Preference, Status
from yunbao.workorders.tests.helpers import new_order

URL = "/notify/preferences/"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_needs_a_login(world) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert reverse("notify:preferences") == URL


def test_a_person_sees_and_changes_only_their_own(world) -> None:
    bob, bill = world.users["bob"], world.users["bill"]
    mine = Endpoint.objects.create(
        kind=Channel.WEBHOOK, address="https://bob.example/hook", secret="s", user=bob
    )
    theirs = Endpoint.objects.create(
        kind=Channel.WEBHOOK, address="https://bill.example/secret-hook", secret="s", user=bill
    )
    client = client_for(bob)

    page = client.get(URL).content.decode()
    assert "bob.example/hook" in page
    assert "bill.example" not in page
    assert f'name="p:{EventKind.ORDER_DISPATCHED}:{Channel.WEBHOOK}"' in page

    for what in ("off", "delete"):
        response = client.post(URL, {"do": what, "endpoint": theirs.pk})
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.active

    assert client.post(URL, {"do": "off", "endpoint": mine.pk}).status_code == 302
    mine.refresh_from_db()
    assert not mine.active


def test_saving_choices_stores_unticked_boxes_as_off(world) -> None:
    bob = world.users["bob"]
    Endpoint.objects.create(
        kind=Channel.WEBHOOK, address="https://bob.example/hook", secret="s", user=bob
    )
    ticked = {f"p:{e}:{Channel.WEBHOOK}": "on" for e in EventKind.values}
    ticked.pop(f"p:{EventKind.SLA_WARNING}:{Channel.WEBHOOK}")

    response = client_for(bob).post(URL, {"do": "preferences", **ticked})

    assert response.status_code == 302
    choices = actions.preferences_of(bob)
    assert choices[EventKind.SLA_WARNING, Channel.WEBHOOK] is False
    assert choices[EventKind.ORDER_DISPATCHED, Channel.WEBHOOK] is True
    assert not Preference.objects.filter(user=world.users["bill"]).exists()


def test_adding_a_webhook_shows_its_generated_secret_once(world) -> None:
    bob = world.users["bob"]
    client = client_for(bob)

    response = client.post(
        URL,
        {"do": "add", "kind": Channel.WEBHOOK, "address": "https://bob.example/in"},
        follow=True,
    )

    endpoint = Endpoint.objects.get(user=bob)
    assert endpoint.kind == Channel.WEBHOOK
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in client.get(URL).content.decode()


def test_a_bad_address_is_refused_on_the_page(world) -> None:
    client = client_for(world.users["bob"])
    response = client.post(
        URL, {"do": "add", "kind": Channel.WEBHOOK, "address": "http://example.org/in"}
    )
    assert response.status_code == 200
    assert 'class="message error"' in response.content.decode()
    assert not Endpoint.objects.exists()
    # Group robots are the administrators' business, not a person's page.
    response = client.post(
        URL, {"do": "add", "kind": Channel.WECOM, "address": "https://qyapi.example/send?key=k"}
    )
    assert response.status_code == 200
    assert not Endpoint.objects.exists()


def test_the_admin_pages_load_and_mask_secrets(world) -> None:
    robot = Endpoint.objects.create(
        kind=Channel.DINGTALK,
        address="https://oapi.dingtalk.com/robot/send?access_token=TOKEN123456789",
        secret="SECtopsecretvalue",
        unit=world.unit1,
    )
    [message] = actions.notify(
        kind=EventKind.UNIT_ALERT,
        units=[world.unit1],
        subject="无人值班",
        body="工单等待派遣",
        dedupe_key="admin-test",
        order=new_order(world),
    )
    client = client_for(world.users["ada"])
    pages = [
        reverse("admin:notify_endpoint_changelist"),
        reverse("admin:notify_endpoint_change", args=[robot.pk]),
        reverse("admin:notify_endpoint_add"),
        reverse("admin:notify_message_changelist") + "?status=pending",
        reverse("admin:notify_message_change", args=[message.pk]),
        reverse("admin:notify_deliveryattempt_changelist"),
        reverse("admin:notify_preference_changelist"),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        assert "SECtopsecretvalue" not in text, page
        assert "TOKEN123456789" not in text, page

    # Saving the form with the masked URL and an empty secret keeps both.
    change = reverse("admin:notify_endpoint_change", args=[robot.pk])
    response = client.post(
        change,
        {
            "kind": Channel.DINGTALK,
            "label": "一街群",
            "address": robot.masked_address,
            "secret": "",
            "unit": world.unit1.pk,
            "active": "on",
        },
    )
    assert response.status_code == 302
    robot.refresh_from_db()
    assert robot.label == "一街群"
    assert robot.address.endswith("TOKEN123456789")
    assert robot.secret == "SECtopsecretvalue"


def test_the_admin_can_send_a_message_again(world) -> None:
    Endpoint.objects.create(
        kind=Channel.WECOM, address="https://qyapi.example/send?key=k", unit=world.unit1
    )
    [message] = actions.notify(
        kind=EventKind.UNIT_ALERT,
        units=[world.unit1],
        subject="无人值班",
        body="工单等待派遣",
        dedupe_key="resend-test",
    )
    message.status = Status.UNKNOWN
    message.save()
    response = client_for(world.users["ada"]).post(
        reverse("admin:notify_message_changelist"),
        {"action": "send_again", "_selected_action": [message.pk]},
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert message.attempts == 0
