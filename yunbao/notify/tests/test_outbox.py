"""The outbox: written with the move (or not at all), once per event and target, to the
people each move concerns, as their preferences allow."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import translation

from yunbao.dispatch.actions import notify_unit_leader
from yunbao.notify import actions, subscribers
from yunbao.notify.models import Channel, Endpoint, EventKind, Message, Preference, Status
from yunbao.workorders import actions as orders
from yunbao.workorders.models import Status as OrderStatus
from yunbao.workorders.tests.helpers import bring_to, do, new_order


@pytest.fixture
def endpoints(world: Any) -> dict[str, Endpoint]:
    u = world.users
    u["erin"].email = "erin@example.org"
    u["erin"].save()
    return {
        "bob": Endpoint.objects.create(
            kind=Channel.WEBHOOK, address="https://bob.example/hook", secret="s", user=u["bob"]
        ),
        "carol": Endpoint.objects.create(
            kind=Channel.DINGTALK, address="https://ding.example/robot", user=u["carol"]
        ),
        "unit1": Endpoint.objects.create(
            kind=Channel.WECOM, address="https://wecom.example/send?key=k", unit=world.unit1
        ),
    }


def targets(order: Any) -> set[tuple[str, str]]:
    """(event, endpoint owner) of the order's messages."""
    return {
        (event, username or unit)
        for event, username, unit in Message.objects.filter(order=order).values_list(
            "event", "endpoint__user__username", "endpoint__unit__code"
        )
    }


def test_dispatch_tells_the_worker_the_unit_group_and_the_reporter(world, endpoints) -> None:
    order = bring_to(world, OrderStatus.DISPATCHED)

    assert targets(order) == {
        (EventKind.ORDER_DISPATCHED, "bob"),
        (EventKind.ORDER_DISPATCHED, "u1"),
        (EventKind.ORDER_DISPATCHED, "erin"),
    }
    mail = Message.objects.get(order=order, endpoint__kind=Channel.EMAIL)
    assert mail.endpoint.address == "erin@example.org"
    assert mail.endpoint.from_account
    assert order.number in mail.subject
    assert mail.payload["order"]["url"] == f"https://yunbao.test/orders/{order.number}/"
    assert all(m.status == Status.PENDING for m in Message.objects.all())


def test_finish_verify_and_rework_reach_the_right_people(world, endpoints) -> None:
    order = bring_to(world, OrderStatus.HANDLED)
    assert (EventKind.ORDER_HANDLED, "erin") in targets(order)
    assert (EventKind.ORDER_HANDLED, "carol") in targets(order)  # the unit's supervisor

    do(world, "rework", order, world.users["carol"])
    assert (EventKind.ORDER_REWORKED, "bob") in targets(order)

    do(world, "start", order, world.users["bob"])
    do(world, "finish", order, world.users["bob"])
    do(world, "verify", order, world.users["carol"])
    closed = Message.objects.filter(order=order, event=EventKind.ORDER_CLOSED)
    assert list(closed.values_list("endpoint__user__username", flat=True)) == ["erin"]
    # The supervisor who verified is not told of her own move.
    assert not closed.filter(endpoint__user=world.users["carol"]).exists()


def test_a_reassignment_tells_the_new_worker(world, endpoints) -> None:
    order = bring_to(world, OrderStatus.IN_PROGRESS)
    bill = world.users["bill"]
    hook = Endpoint.objects.create(
        kind=Channel.WEBHOOK, address="https://bill.example/", secret="s", user=bill
    )
    before = Message.objects.filter(endpoint=endpoints["bob"]).count()

    orders.assign(order, actor=world.users["carol"], worker=bill)

    told = Message.objects.get(endpoint=hook)
    assert told.event == EventKind.ORDER_DISPATCHED
    assert told.recipient == bill
    assert Message.objects.filter(endpoint=endpoints["bob"]).count() == before


def test_the_outbox_rolls_back_with_the_move(world, endpoints) -> None:
    order = bring_to(world, OrderStatus.ACCEPTED)

    written: list[int] = []

    def move_then_fail() -> None:
        with transaction.atomic():
            do(world, "dispatch", order, None)
            written.append(Message.objects.filter(order=order).count())
            raise RuntimeError("the change fails after the move")

    with pytest.raises(RuntimeError):
        move_then_fail()

    assert written == [3]  # the outbox rows were written in the move's transaction
    assert not Message.objects.filter(order=order).exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.ACCEPTED


def test_delivery_is_enqueued_only_when_the_move_commits(
    world, endpoints, settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = True
    enqueued: list[list[int]] = []
    monkeypatch.setattr(actions, "_enqueue", enqueued.append)
    order = bring_to(world, OrderStatus.ACCEPTED)

    with django_capture_on_commit_callbacks(execute=True):
        do(world, "dispatch", order, None)
        assert enqueued == []  # nothing leaves before the commit

    ids = set(Message.objects.filter(order=order).values_list("pk", flat=True))
    assert len(ids) == 3
    assert {pk for batch in enqueued for pk in batch} == ids


def test_the_same_event_is_queued_once_per_target(world, endpoints) -> None:
    order = new_order(world)
    kwargs: dict[str, Any] = {
        "kind": EventKind.SLA_WARNING,
        "recipients": [world.users["bob"], world.users["bob"]],
        "units": [world.unit1],
        "subject": "快超时了",
        "body": "还有一小时",
        "dedupe_key": f"sla:{order.pk}:handle:1h",
        "order": order,
    }
    first = actions.notify(**kwargs)
    second = actions.notify(**kwargs)

    assert len(first) == 2
    assert [m.pk for m in second] == [m.pk for m in first]
    assert Message.objects.count() == 2
    with pytest.raises(ValueError, match="unknown notification kind"):
        actions.notify(**{**kwargs, "kind": "nonsense"})


def test_preferences_are_respected(world, endpoints) -> None:
    bob = world.users["bob"]
    actions.set_preferences(bob, {(EventKind.ORDER_DISPATCHED, Channel.WEBHOOK): False})
    assert actions.preferences_of(bob)[EventKind.ORDER_DISPATCHED, Channel.WEBHOOK] is False
    assert actions.preferences_of(bob)[EventKind.ORDER_REWORKED, Channel.WEBHOOK] is True

    order = bring_to(world, OrderStatus.DISPATCHED)
    assert (EventKind.ORDER_DISPATCHED, "bob") not in targets(order)
    assert (EventKind.ORDER_DISPATCHED, "u1") in targets(order)  # the group is the unit's
    assert Preference.objects.filter(user=bob).count() == 1


def test_switched_off_endpoints_and_email_without_a_server_get_nothing(
    world, endpoints, settings
) -> None:
    settings.YUNBAO_NOTIFY_EMAIL = False
    endpoints["bob"].active = False
    endpoints["bob"].save()
    order = bring_to(world, OrderStatus.DISPATCHED)
    assert targets(order) == {(EventKind.ORDER_DISPATCHED, "u1")}


def test_an_anonymous_reporter_gets_nothing_through_channels(world, endpoints) -> None:
    order = new_order(world)
    order.reporter = None
    order.save()
    for action in ("accept", "dispatch", "start", "finish"):
        do(world, action, order, world.users["bob"] if action in {"start", "finish"} else None)
    assert not Message.objects.filter(order=order, endpoint__kind=Channel.EMAIL).exists()
    assert (EventKind.ORDER_HANDLED, "carol") in targets(order)


def test_a_failing_subscriber_never_undoes_the_move(world, endpoints, monkeypatch) -> None:
    def broken(order: Any, entry: Any) -> None:
        raise RuntimeError("a bug in a message text")

    monkeypatch.setitem(subscribers.HANDLERS, "dispatch", broken)
    order = bring_to(world, OrderStatus.DISPATCHED)
    assert order.status == OrderStatus.DISPATCHED
    assert not Message.objects.filter(order=order).exists()


def test_the_unit_leader_alert_goes_to_the_leader_and_the_group(world, endpoints) -> None:
    world.unit1.leader = world.users["carol"]
    world.unit1.save()
    order = new_order(world)

    alert = notify_unit_leader(world.unit1, order, "nobody_on_duty")
    notify_unit_leader(world.unit1, order, "nobody_on_duty")  # a second run: no new message

    assert alert["leader"] == "carol"
    assert targets(order) == {(EventKind.UNIT_ALERT, "carol"), (EventKind.UNIT_ALERT, "u1")}
    assert Message.objects.filter(order=order).count() == 2


def test_bad_endpoint_addresses_are_refused_clearly(world, settings) -> None:
    translation.activate("en")
    bob = world.users["bob"]
    cases = {
        "ftp://example.org/x": "https://",
        "http://example.org/hook": "https://",
        "https://user:pw@example.org/": "password",
        "https://[::1/": "valid URL",
        "not a url": "https://",
    }
    for address, expected in cases.items():
        with pytest.raises(Exception, match=expected):
            actions.create_endpoint(actor=bob, kind=Channel.WEBHOOK, address=address)
    settings.YUNBAO_NOTIFY_ALLOW_HTTP = False
    with pytest.raises(Exception, match="https://"):
        actions.create_endpoint(actor=bob, kind=Channel.WEBHOOK, address="http://127.0.0.1:9/")
    with pytest.raises(Exception, match="valid email"):
        actions.create_endpoint(actor=bob, kind=Channel.EMAIL, address="bob@")
    assert not Endpoint.objects.exists()

    made = actions.create_endpoint(actor=bob, kind=Channel.WEBHOOK, address="https://x.example/")
    assert len(made.secret) >= 32  # generated for a webhook without one
    assert made.user == bob


def test_orders_move_normally_without_any_endpoint(world) -> None:
    order = bring_to(world, OrderStatus.CLOSED)
    assert order.status == OrderStatus.CLOSED
    assert not Message.objects.exists()


def test_the_account_email_endpoint_follows_the_account(world) -> None:
    erin = world.users["erin"]
    erin.email = "erin@example.org"
    erin.save()
    order = new_order(world)

    def send(key: str) -> list[Message]:
        return actions.notify(
            kind=EventKind.ORDER_CLOSED,
            recipients=[erin],
            subject="已办结",
            body="谢谢",
            dedupe_key=key,
            order=order,
        )

    [first] = send("a")
    erin.email = "erin@new.example"
    erin.save()
    [second] = send("b")

    assert first.endpoint_id == second.endpoint_id  # one account endpoint, updated
    assert Endpoint.objects.get(user=erin).address == "erin@new.example"
    erin.email = ""
    erin.save()
    assert send("c") == []
