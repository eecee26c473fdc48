"""Webhooks: subscriptions (administrators), one outbox message per matching subscription
written with the event, delivered signed to a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import transaction

from yunbao.api import webhooks
from yunbao.api.models import WebhookSubscription
from yunbao.api.tests.conftest import assert_error, known
from yunbao.notify.actions import notify
from yunbao.notify.delivery import deliver_due
from yunbao.notify.models import Endpoint, Message
from yunbao.sla.sweep import sweep
from yunbao.workorders import actions
from yunbao.workorders.models import Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to, new_order

HOOKS = "/api/v1/webhooks"


@pytest.fixture(autouse=True)
def _local_delivery(settings: Any) -> None:
    settings.YUNBAO_NOTIFY_ALLOW_HTTP = True
    # The tests deliver themselves (on-commit hooks do not run inside a test transaction).
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = False
    settings.YUNBAO_PUBLIC_URL = "https://yunbao.test"


@dataclass
class Receiver:
    url: str = ""
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 in a thread, recording every POST."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/yunbao-events"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def subscribe(world: Any, *events: str, area: Any = None, url: str = "") -> tuple[Any, str]:
    return webhooks.create_subscription(
        actor=world.users["ada"],
        client="12345 hotline",
        url=url or "https://hotline.example/in",
        events=list(events),
        area=area,
    )


def messages_of(sub: WebhookSubscription) -> list[Message]:
    return list(Message.objects.filter(endpoint_id=sub.endpoint_id).order_by("pk"))


# --- Managing subscriptions ----------------------------------------------------------------


def test_an_administrator_manages_subscriptions_and_sees_the_secret_once(
    world: Any, as_user: Any
) -> None:
    ada = as_user("ada")
    made = ada.post(
        HOOKS,
        {
            "client": "城管平台",
            "url": "https://hotline.example/in?key=abcdef123456",
            "events": ["created", "overdue"],
            "area": world.street1.code,
        },
    )
    assert made.status_code == 201, made.content
    created = made.json()
    secret = created["secret"]
    assert len(secret) >= 40
    sub = WebhookSubscription.objects.get(pk=created["id"])
    assert sub.endpoint.secret == secret
    assert sub.area == world.street1
    account = sub.endpoint.user
    assert account is not None
    assert account.username == webhooks.SERVICE_USERNAME
    assert not account.is_active
    shown = ada.get(f"{HOOKS}/{sub.pk}").json()
    assert "secret" not in shown
    assert secret not in json.dumps(shown)
    assert shown["secret_hint"].startswith(secret[:4])
    assert "abcdef123456" not in shown["url"]
    listed = ada.get(HOOKS).json()["results"]
    assert [h["id"] for h in listed] == [sub.pk]
    changed = ada.patch(f"{HOOKS}/{sub.pk}", {"events": ["status_changed"], "all_areas": True})
    assert changed.json()["events"] == ["status_changed"]
    assert changed.json()["area"] is None
    off = ada.patch(f"{HOOKS}/{sub.pk}", {"active": False}).json()
    assert off["active"] is False
    sub.refresh_from_db()
    assert not sub.endpoint.active  # waiting messages are cancelled, not sent
    rotated = ada.post(f"{HOOKS}/{sub.pk}/rotate-secret").json()["secret"]
    assert rotated != secret
    assert Endpoint.objects.get(pk=sub.endpoint_id).secret == rotated
    assert ada.delete(f"{HOOKS}/{sub.pk}").status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert not Endpoint.objects.filter(pk=sub.endpoint_id).exists()
    assert_error(ada.get(f"{HOOKS}/{sub.pk}"), 404)


def test_bad_subscriptions_are_refused(world: Any, as_user: Any, settings: Any) -> None:
    ada = as_user("ada")
    ok = {"client": "x", "url": "https://hotline.example/in", "events": ["created"]}
    assert_error(ada.post(HOOKS, {**ok, "events": []}), 422, "events")
    assert_error(ada.post(HOOKS, {**ok, "events": ["deleted"]}), 422)
    assert_error(ada.post(HOOKS, {**ok, "area": "NOWHERE"}), 422, "area")
    assert_error(ada.post(HOOKS, {**ok, "url": "ftp://hotline.example/in"}), 422, "url")
    assert_error(ada.post(HOOKS, {**ok, "url": "https://user:pw@hotline.example/"}), 422, "url")
    settings.YUNBAO_NOTIFY_ALLOW_HTTP = False
    assert_error(ada.post(HOOKS, {**ok, "url": "http://127.0.0.1:9/in"}), 422, "url")
    assert_error(ada.post(HOOKS, {**ok, "client": "  "}), 422, "client")
    assert not WebhookSubscription.objects.exists()


def test_only_administrators_manage_webhooks(world: Any, as_user: Any) -> None:
    sub, _ = subscribe(world, "created")
    for name in ["dave", "alice", "carol", "erin"]:
        assert_error(as_user(name).get(HOOKS), 403)
        assert_error(as_user(name).delete(f"{HOOKS}/{sub.pk}"), 403)
    assert WebhookSubscription.objects.filter(pk=sub.pk).exists()


# --- Events into the outbox ----------------------------------------------------------------


def test_each_event_queues_one_message_per_matching_subscription(world: Any) -> None:
    everything, _ = subscribe(world, "created", "status_changed")
    street2, _ = subscribe(world, "created", "status_changed", area=world.street2)
    only_new, _ = subscribe(world, "created")
    off, _ = subscribe(world, "created", "status_changed")
    webhooks.update_subscription(off, actor=None, active=False)

    order = new_order(world)  # street one
    actions.accept(order, actor=world.users["alice"])
    actions.dispatch(order, actor=world.users["alice"], unit=world.unit1, worker=world.users["bob"])
    actions.start(order, actor=world.users["bob"])
    actions.arrive(order, actor=world.users["bob"], lat=order.lat, lon=order.lon)  # no change

    events = [(m.event, m.payload["data"].get("to")) for m in messages_of(everything)]
    assert events == [
        ("order.created", None),
        ("order.status_changed", "accepted"),
        ("order.status_changed", "dispatched"),
        ("order.status_changed", "in_progress"),
    ]
    assert [m.event for m in messages_of(only_new)] == ["order.created"]
    assert messages_of(street2) == []
    assert messages_of(off) == []
    created = messages_of(everything)[0]
    assert created.payload["order"]["number"] == order.number
    assert created.payload["order"]["url"].startswith("https://yunbao.test/")
    assert created.payload["data"]["category"] == world.category.code
    # No personal data leaves: neither the reporter's contact nor staff names.
    text = json.dumps([m.payload for m in messages_of(everything)], ensure_ascii=False)
    assert "13800000000" not in text
    assert "Erin" not in text
    assert "bob" not in text


def test_the_messages_commit_with_the_move_or_not_at_all(world: Any) -> None:
    sub, _ = subscribe(world, "status_changed")
    order = new_order(world)
    with transaction.atomic():
        actions.accept(order, actor=world.users["alice"])
        assert len(messages_of(sub)) == 1
        transaction.set_rollback(True)
    assert messages_of(sub) == []
    assert WorkOrder.objects.get(pk=order.pk).status == Status.SUBMITTED


def test_a_broken_webhook_never_undoes_the_move(world: Any, monkeypatch: Any, caplog: Any) -> None:
    subscribe(world, "status_changed")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in webhooks")

    monkeypatch.setattr(webhooks, "queue", broken)
    order = new_order(world)
    actions.accept(order, actor=world.users["alice"])
    assert WorkOrder.objects.get(pk=order.pk).status == Status.ACCEPTED
    assert "could not be queued" in caplog.text


def test_overdue_is_queued_with_the_sla_alert_once(world: Any) -> None:
    sub, _ = subscribe(world, "overdue")
    order = new_order(world)
    due = known(order.accept_due)
    sweep(due + timedelta(minutes=1))
    sweep(due + timedelta(minutes=2))  # nothing new: the alert fired already
    overdue = messages_of(sub)
    assert [m.event for m in overdue] == ["order.overdue"]
    assert overdue[0].payload["data"]["stage"] == "accept"
    assert overdue[0].payload["data"]["due"] == due.isoformat()


def test_the_service_account_never_receives_personal_notifications(world: Any) -> None:
    sub, _ = subscribe(world, "created")
    account = sub.endpoint.user
    notify(
        kind="order_dispatched",
        recipients=[account],
        subject="x",
        body="y",
        dedupe_key="test:service-account",
    )
    bring_to(world, Status.HANDLED)  # dispatch, finish … notify workers, reporters, units
    assert {m.event for m in messages_of(sub)} == {"order.created"}


# --- Delivery to a real receiver --------------------------------------------------------------


def test_a_receiver_gets_signed_deliveries_it_can_verify(world: Any, receiver: Receiver) -> None:
    sub, secret = subscribe(world, "created", "status_changed", url=receiver.url)
    order = new_order(world)
    actions.accept(order, actor=world.users["alice"])
    report = deliver_due(ids=[m.pk for m in messages_of(sub)])
    assert report.sent == 2
    deadline = time.monotonic() + 5
    while len(receiver.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(receiver.requests) == 2
    seen = []
    for headers, raw in receiver.requests:
        # What a receiver does: HMAC-SHA256 of the raw body with the secret, compared in
        # constant time with the header.
        expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-yunbao-signature"], expected)
        forged = "sha256=" + hmac.new(b"wrong secret", raw, hashlib.sha256).hexdigest()
        assert not hmac.compare_digest(headers["x-yunbao-signature"], forged)
        body = json.loads(raw)
        assert body["event"] == headers["x-yunbao-event"]
        assert body["id"] == headers["x-yunbao-delivery"]
        assert str(body["timestamp"]) == headers["x-yunbao-timestamp"]
        assert abs(time.time() - body["timestamp"]) < 60
        assert body["order"]["number"] == order.number
        seen.append((body["event"], body["data"].get("to")))
    assert sorted(seen, key=str) == sorted(
        [("order.created", None), ("order.status_changed", "accepted")], key=str
    )
    assert {m.status for m in messages_of(sub)} == {"sent"}
