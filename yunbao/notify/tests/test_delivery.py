"""Delivery against a real HTTP receiver on 127.0.0.1: signatures, retries with backoff,
giving up, channels that are down, and no duplicate after a crash between send and mark."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import pytest
from django.core import mail
from django.utils import timezone
from django.utils.translation import gettext

from yunbao.notify import actions, delivery, senders
from yunbao.notify.models import Channel, DeliveryAttempt, Endpoint, EventKind, Message, Status
from yunbao.notify.tasks import deliver_outbox_task
from yunbao.notify.tests.conftest import Receiver, free_port
from yunbao.workorders.tests.helpers import new_order


@pytest.fixture
def t0() -> datetime:
    """The test's clock: just after the messages it queues are created."""
    return timezone.now().replace(microsecond=0) + timedelta(minutes=1)


def queue(world: Any, endpoint: Endpoint, key: str = "e1") -> Message:
    """One message of one event for `endpoint`."""
    owner = endpoint.user
    [message] = actions.notify(
        kind=EventKind.ORDER_DISPATCHED,
        recipients=[owner] if owner else [],
        units=[endpoint.unit] if endpoint.unit else [],
        subject="新工单 YB1",
        body="路边有垃圾",
        dedupe_key=key,
        order=new_order(world),
        data={"k": "v"},
    )
    return message


def endpoint(world: Any, kind: str, address: str, secret: str = "") -> Endpoint:
    return Endpoint.objects.create(
        kind=kind, address=address, secret=secret, user=world.users["bob"]
    )


def new_number(message: Message) -> str:
    assert message.order is not None
    return message.order.number


def reload(message: Message) -> Message:
    message.refresh_from_db()
    return message


# --- Each channel, its format and signature -------------------------------------------------


def test_wecom_posts_markdown_and_checks_errcode(world, receiver: Receiver, t0: datetime) -> None:
    robot = endpoint(world, Channel.WECOM, f"{receiver.url}/cgi-bin/webhook/send?key=KEY1")
    message = queue(world, robot)

    report = delivery.deliver_due(now=t0)

    assert report.sent == 1
    [request] = receiver.requests
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": "KEY1"}
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert "新工单 YB1" in body["markdown"]["content"]
    assert "https://yunbao.test/orders/" in body["markdown"]["content"]
    message = reload(message)
    assert (message.status, message.attempts, message.sent_at) == (Status.SENT, 1, t0)
    [attempt] = message.log.all()
    assert attempt.ok
    assert attempt.http_status == 200


def test_a_robot_refusal_is_a_failure(world, receiver: Receiver, t0: datetime) -> None:
    robot = endpoint(world, Channel.WECOM, f"{receiver.url}/send?key=bad")
    message = queue(world, robot)
    receiver.answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})

    delivery.deliver_due(now=t0)

    message = reload(message)
    assert message.status == Status.FAILED
    assert "93000" in message.last_error
    assert "key=bad" not in message.last_error  # the robot's key is never logged


def test_dingtalk_signs_the_timestamp_with_the_secret(
    world, receiver: Receiver, t0: datetime
) -> None:
    secret = "SECabc123"
    robot = endpoint(world, Channel.DINGTALK, f"{receiver.url}/robot/send?access_token=T", secret)
    queue(world, robot)

    assert delivery.deliver_due(now=t0).sent == 1

    [request] = receiver.requests
    timestamp, sign = request.query["timestamp"], request.query["sign"]
    assert request.query["access_token"] == "T"
    assert abs(int(timestamp) - time.time() * 1000) < 60_000  # milliseconds, now
    # What DingTalk's server computes (parse_qs already decoded the URL encoding).
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert sign == expected
    assert f"sign={quote_plus(expected)}" in request.raw_query  # URL-encoded on the wire
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "新工单 YB1"


def test_the_webhook_is_signed_with_hmac(world, receiver: Receiver, t0: datetime) -> None:
    secret = "webhook-secret"
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", secret)
    message = queue(world, hook)

    delivery.deliver_due(now=t0)

    [request] = receiver.requests
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-yunbao-signature"], expected)
    assert request.headers["x-yunbao-delivery"] == str(message.delivery_id)
    assert request.headers["x-yunbao-event"] == EventKind.ORDER_DISPATCHED
    body = request.json()
    assert body["id"] == str(message.delivery_id)
    assert body["timestamp"] == int(request.headers["x-yunbao-timestamp"])
    assert abs(body["timestamp"] - time.time()) < 60
    assert body["data"] == {"k": "v"}
    assert body["order"]["number"] == new_number(message)
    # A tampered body does not verify.
    forged = hmac.new(secret.encode(), request.body + b" ", hashlib.sha256).hexdigest()
    assert request.headers["x-yunbao-signature"] != "sha256=" + forged


def test_email_goes_through_django_mail(world, t0: datetime) -> None:
    box = endpoint(world, Channel.EMAIL, "bob@example.org")
    message = queue(world, box)

    assert delivery.deliver_due(now=t0).sent == 1

    [sent] = mail.outbox
    assert sent.to == ["bob@example.org"]
    assert sent.subject == "新工单 YB1"
    assert "路边有垃圾" in str(sent.body)
    assert f"https://yunbao.test/orders/{new_number(message)}/" in str(sent.body)
    assert sent.extra_headers["Message-ID"] == f"<{message.delivery_id}@yunbao>"


# --- Retries, backoff, giving up ------------------------------------------------------------


def test_a_500_is_retried_after_the_backoff(world, receiver: Receiver, t0: datetime) -> None:
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", "s")
    message = queue(world, hook)
    receiver.answer(500, {"error": "db down"})
    receiver.answer(503, {})

    delivery.deliver_due(now=t0)
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.next_attempt_at == t0 + timedelta(seconds=30)
    assert "HTTP 500" in message.last_error

    # Not due yet: nothing is sent a second early.
    assert delivery.deliver_due(now=t0 + timedelta(seconds=29)).as_dict()["failed"] == 0
    assert len(receiver.requests) == 1

    delivery.deliver_due(now=t0 + timedelta(seconds=30))
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.next_attempt_at == t0 + timedelta(seconds=90)  # 30 s · 2

    delivery.deliver_due(now=t0 + timedelta(seconds=90))
    message = reload(message)
    assert message.status == Status.SENT
    assert message.attempts == 3
    statuses = list(message.log.order_by("at").values_list("outcome", "http_status"))
    assert statuses == [("failed", 500), ("failed", 503), ("sent", 200)]
    # Every try carried the same delivery id.
    assert {r.headers["x-yunbao-delivery"] for r in receiver.requests} == {str(message.delivery_id)}


def test_the_backoff_doubles_up_to_its_cap(settings) -> None:
    settings.YUNBAO_NOTIFY_BACKOFF_MAX_SECONDS = 100
    assert [delivery.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_a_message_is_given_up_after_the_last_attempt(
    world, receiver: Receiver, t0: datetime
) -> None:
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", "s")
    message = queue(world, hook)
    for _ in range(4):
        receiver.answer(500)

    now = t0
    for _ in range(4):
        delivery.deliver_due(now=now)
        now += timedelta(hours=2)

    message = reload(message)
    assert message.status == Status.DEAD
    assert message.attempts == 4
    assert message.log.count() == 4
    delivery.deliver_due(now=now + timedelta(days=1))
    assert len(receiver.requests) == 4  # nothing more after giving up

    # A person sends it again once the receiver is fixed.
    assert actions.resend(message, actor=world.users["ada"], at=now)
    delivery.deliver_due(now=now)
    assert reload(message).status == Status.SENT


# --- Channels that are down, bad addresses, timeouts ----------------------------------------


def test_a_refused_connection_keeps_the_message_for_later(world, t0: datetime) -> None:
    port = free_port()
    hook = endpoint(world, Channel.WECOM, f"http://127.0.0.1:{port}/send?key=k")
    message = queue(world, hook)

    delivery.deliver_due(now=t0)

    message = reload(message)
    assert message.status == Status.FAILED
    assert "cannot connect to 127.0.0.1" in message.last_error
    assert message.next_attempt_at == t0 + timedelta(seconds=30)
    [attempt] = message.log.all()
    assert attempt.outcome == DeliveryAttempt.Outcome.FAILED
    assert attempt.http_status is None


def test_an_unknown_host_is_a_clear_failure(world, t0: datetime) -> None:
    hook = endpoint(world, Channel.WEBHOOK, "https://no-such-host.invalid/hook", "s")
    message = queue(world, hook)

    delivery.deliver_due(now=t0)

    message = reload(message)
    assert message.status == Status.FAILED
    assert "no-such-host.invalid" in message.last_error


def test_a_timeout_is_retried_on_a_webhook_but_left_to_a_person_on_a_robot(
    world, receiver: Receiver, settings, t0: datetime
) -> None:
    settings.YUNBAO_NOTIFY_TIMEOUT = 0.3
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", "s")
    robot = Endpoint.objects.create(
        kind=Channel.WECOM, address=f"{receiver.url}/send?key=k", unit=world.unit1
    )
    to_hook = queue(world, hook, "slow-1")
    to_robot = queue(world, robot, "slow-2")
    receiver.answer(200, {}, delay=1.0)
    receiver.answer(200, {"errcode": 0}, delay=1.0)

    delivery.deliver_due(now=t0)

    to_hook, to_robot = reload(to_hook), reload(to_robot)
    assert to_hook.status == Status.FAILED  # same delivery id next time: safe to resend
    assert "timed out" in to_hook.last_error
    assert to_robot.status == Status.UNKNOWN  # it may be in the group already: not resent
    delivery.deliver_due(now=t0 + timedelta(hours=1))
    assert reload(to_robot).status == Status.UNKNOWN
    assert reload(to_hook).status == Status.SENT
    robot_posts = [r for r in receiver.requests if r.path == "/send"]
    assert len(robot_posts) == 1
    # The receiver acted once on the webhook, although it saw it twice.
    assert receiver.effects.count(str(to_hook.delivery_id)) == 1


def test_a_switched_off_endpoint_cancels_its_messages(
    world, receiver: Receiver, t0: datetime
) -> None:
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", "s")
    message = queue(world, hook)
    actions.set_endpoint_active(hook, active=False)

    delivery.deliver_due(now=t0)

    assert reload(message).status == Status.CANCELLED
    assert receiver.requests == []


# --- A crash between sending and marking ----------------------------------------------------


class Crash(BaseException):
    """The worker process dies (a kill, an OOM) right after the HTTP send."""


def crash_after_send(monkeypatch: pytest.MonkeyPatch) -> None:
    def die(*args: Any, **kwargs: Any) -> str:
        raise Crash

    monkeypatch.setattr(delivery, "mark", die)


def test_no_duplicate_webhook_effect_after_a_crash_between_send_and_mark(
    world, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, t0: datetime
) -> None:
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", "s")
    message = queue(world, hook)
    with monkeypatch.context() as patch:
        crash_after_send(patch)
        with pytest.raises(Crash):
            delivery.deliver_due(now=t0)

    assert len(receiver.requests) == 1  # it went out …
    assert reload(message).status == Status.SENDING  # … but was never marked

    # Another run within the lease leaves it alone: the first worker may still be at it.
    delivery.deliver_due(now=t0 + timedelta(seconds=299))
    assert len(receiver.requests) == 1

    report = delivery.deliver_due(now=t0 + timedelta(seconds=301))

    assert report.recovered == 1
    message = reload(message)
    assert message.status == Status.SENT
    assert len(receiver.requests) == 2
    ids = [r.headers["x-yunbao-delivery"] for r in receiver.requests]
    assert ids == [str(message.delivery_id)] * 2  # the same idempotency key …
    assert receiver.effects == [str(message.delivery_id)]  # … so the receiver acted once


@pytest.mark.parametrize("kind", [Channel.WECOM, Channel.DINGTALK])
def test_no_duplicate_robot_post_after_a_crash_between_send_and_mark(
    world, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, kind: str, t0: datetime
) -> None:
    robot = endpoint(world, kind, f"{receiver.url}/send?key=k", "SECx")
    message = queue(world, robot)
    with monkeypatch.context() as patch:
        crash_after_send(patch)
        with pytest.raises(Crash):
            delivery.deliver_due(now=t0)

    for hours in (1, 2, 24):
        delivery.deliver_due(now=t0 + timedelta(hours=hours))

    assert len(receiver.requests) == 1  # never posted twice in the group
    message = reload(message)
    assert message.status == Status.UNKNOWN
    # Stored in the district's language (zh-Hans by default), as every log line is.
    assert message.last_error == gettext(
        "Interrupted while sending: it may or may not have arrived. Not sent again, "
        "to avoid a duplicate; check with the recipient, then resend or mark as sent."
    )
    assert actions.mark_sent(message, actor=world.users["ada"])
    assert reload(message).status == Status.SENT


def test_no_duplicate_mail_after_a_crash_between_send_and_mark(
    world, monkeypatch, t0: datetime
) -> None:
    box = endpoint(world, Channel.EMAIL, "bob@example.org")
    message = queue(world, box)
    with monkeypatch.context() as patch:
        crash_after_send(patch)
        with pytest.raises(Crash):
            delivery.deliver_due(now=t0)

    delivery.deliver_due(now=t0 + timedelta(hours=1))

    assert len(mail.outbox) == 1
    assert reload(message).status == Status.UNKNOWN


def test_two_runs_never_send_one_message_twice(world, receiver: Receiver, t0: datetime) -> None:
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", "s")
    message = queue(world, hook)
    claimed = delivery.claim_next(t0)
    assert claimed is not None
    assert claimed.pk == message.pk
    # A second worker finds nothing to claim while the first one sends.
    assert delivery.claim_next(t0) is None
    delivery.deliver_claimed(claimed, lambda: t0)
    assert len(receiver.requests) == 1
    assert reload(message).status == Status.SENT


def test_the_task_delivers_the_outbox(world, receiver: Receiver) -> None:
    hook = endpoint(world, Channel.WEBHOOK, f"{receiver.url}/hook", "s")
    message = queue(world, hook)

    result = deliver_outbox_task.enqueue([message.pk])  # runs inline in tests

    assert result.return_value is not None
    assert result.return_value["sent"] == 1
    assert reload(message).status == Status.SENT


def test_unexpected_sender_errors_are_never_resent_blindly(
    world, monkeypatch, t0: datetime
) -> None:
    robot = endpoint(world, Channel.WECOM, "https://robot.example/send?key=k")
    message = queue(world, robot)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(senders, "send", boom)
    delivery.deliver_due(now=t0)
    assert reload(message).status == Status.UNKNOWN
