"""Webhooks for external systems: subscriptions, and their messages in notify's outbox.

A `WebhookSubscription` names events (`created`, `status_changed`, `overdue`) and an area.
On each such event one outbox `Message` per matching active subscription is written **in
the transaction of the event**, so it commits with the move (or the alert) or not at all:

- order events come from `workorders.events.subscribe_in_transaction` (`submit` is
  `order.created`; any move that changes the status is `order.status_changed`);
- `order.overdue` comes from the SLA sweep's batch transaction, when an order's running
  stage passes its deadline (the first escalation; `sla.sweep.subscribe_alerts`).

Delivery is notify's: the generic webhook channel with its retries, backoff, delivery log
and HMAC signature. A receiver gets a JSON POST with the headers

    X-Yunbao-Event: order.status_changed
    X-Yunbao-Delivery: <uuid, the same on every try of one message: deduplicate on it>
    X-Yunbao-Timestamp: <Unix seconds>
    X-Yunbao-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>

and checks the signature over the raw body with the subscription's secret (constant-time
compare), refuses timestamps more than a few minutes old (the body repeats `timestamp`
and the delivery `id`), and ignores a delivery id it has already processed.

Each subscription has its own webhook `Endpoint` (URL and secret), owned by an internal
account that is never active: `notify()` only ever sends to active people, so personal
notifications never reach a subscription's URL, and nobody can log in as that account.
The secret is made by the server (32 random bytes, URL-safe), shown once when made or
rotated, never again (the admin and the API show it masked), and stored as notify stores
every endpoint secret: in the database, readable by the server because an HMAC is signed
with the secret itself (a hash of it could not sign). Protect it as the database is
protected; rotate it when in doubt.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from yunbao.api.models import WebhookEvent, WebhookSubscription
from yunbao.geo.models import Area
from yunbao.notify.actions import check_address, delete_endpoint, order_link
from yunbao.notify.models import Channel, Endpoint, Message
from yunbao.workorders.events import OrderEvent, subscribe_in_transaction
from yunbao.workorders.models import TimelineEntry, WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

log = logging.getLogger(__name__)

# The internal account that owns the subscriptions' endpoints; never active.
SERVICE_USERNAME = "yunbao-webhooks"
# What receivers see in `X-Yunbao-Event` and the body's `event`.
MESSAGE_EVENT = {
    WebhookEvent.CREATED: "order.created",
    WebhookEvent.STATUS_CHANGED: "order.status_changed",
    WebhookEvent.OVERDUE: "order.overdue",
}
MAX_CLIENT = 100


class WebhookError(ValueError):
    """A subscription that cannot be saved as asked; `errors` maps fields to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def service_account() -> Any:
    """The inactive account owning every subscription's endpoint (made on first use)."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=SERVICE_USERNAME, defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif user.is_active:
        # Someone made or activated an account of that name: its endpoints would receive
        # a person's notifications. Refuse rather than mix the two.
        log.error("the account %s is active; webhook subscriptions refused", SERVICE_USERNAME)
        raise WebhookError({"url": _("The internal webhook account is active; deactivate it.")})
    return user


def validate(
    *,
    client: str | None = None,
    url: str | None = None,
    events: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The given fields cleaned (a URL notify can deliver to), or `WebhookError`."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if client is not None:
        client = client.strip()
        if not client or len(client) > MAX_CLIENT:
            errors["client"] = _("Name the receiving system (1 to 100 characters).")
        cleaned["client"] = client
    if url is not None:
        try:
            cleaned["url"] = check_address(Channel.WEBHOOK, url)
        except ValidationError as exc:
            errors["url"] = " ".join(exc.messages)
    if events is not None:
        chosen = list(dict.fromkeys(events))
        if not chosen or any(e not in WebhookEvent.values for e in chosen):
            errors["events"] = _("Choose one or more of: %(events)s.") % {
                "events": ", ".join(WebhookEvent.values)
            }
        cleaned["events"] = chosen
    if errors:
        raise WebhookError(errors)
    return cleaned


def create_subscription(
    *,
    actor: AbstractBaseUser | None,
    client: str,
    url: str,
    events: Iterable[str],
    area: Area | None = None,
    secret: str = "",
    active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """A new subscription; returns it with its secret (shown once: never again)."""
    cleaned = validate(client=client, url=url, events=events)
    secret = secret.strip() or new_secret()
    if len(secret) < 16 or len(secret) > 200:
        raise WebhookError({"secret": _("A secret has 16 to 200 characters.")})
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            kind=Channel.WEBHOOK,
            label=f"Webhook: {cleaned['client']}"[:100],
            address=cleaned["url"],
            secret=secret,
            user=service_account(),
            active=active,
        )
        subscription = WebhookSubscription.objects.create(
            client=cleaned["client"],
            owner_id=actor.pk if actor else None,
            endpoint=endpoint,
            events=cleaned["events"],
            area=area,
            active=active,
        )
    log.info("webhook subscription #%s (%s) made by %s", subscription.pk, client, actor)
    return subscription, secret


def update_subscription(
    subscription: WebhookSubscription,
    *,
    actor: AbstractBaseUser | None,
    client: str | None = None,
    url: str | None = None,
    events: Iterable[str] | None = None,
    area: Area | bool | None = False,
    active: bool | None = None,
) -> WebhookSubscription:
    """Change the given fields (`area=False` leaves the area as it is, None clears it)."""
    cleaned = validate(client=client, url=url, events=events)
    with transaction.atomic():
        endpoint = subscription.endpoint
        if "client" in cleaned:
            subscription.client = cleaned["client"]
            endpoint.label = f"Webhook: {cleaned['client']}"[:100]
        if "url" in cleaned:
            endpoint.address = cleaned["url"]
        if "events" in cleaned:
            subscription.events = cleaned["events"]
        if area is not False:
            subscription.area = area if isinstance(area, Area) else None
        if active is not None:
            # The endpoint follows: messages still waiting for a switched-off subscription
            # are cancelled by delivery instead of being sent.
            subscription.active = endpoint.active = active
        endpoint.save()
        subscription.save()
    log.info("webhook subscription #%s changed by %s", subscription.pk, actor)
    return subscription


def rotate_secret(subscription: WebhookSubscription, *, actor: AbstractBaseUser | None) -> str:
    """A new secret for `subscription` (shown once); messages not yet sent are signed with
    it from now on."""
    secret = new_secret()
    Endpoint.objects.filter(pk=subscription.endpoint_id).update(secret=secret)
    subscription.endpoint.secret = secret
    log.info("webhook subscription #%s: secret rotated by %s", subscription.pk, actor)
    return secret


def delete_subscription(
    subscription: WebhookSubscription, *, actor: AbstractBaseUser | None
) -> None:
    """Delete `subscription`; its endpoint goes too, or is switched off if it has a
    delivery log (kept for the record, as notify does)."""
    endpoint = subscription.endpoint
    with transaction.atomic():
        subscription.delete()
        delete_endpoint(endpoint)
    log.info("webhook subscription #%s deleted by %s", subscription.pk, actor)


# --- Events into the outbox ----------------------------------------------------------------


def _matching(event: str) -> list[WebhookSubscription]:
    """The active subscriptions to `event`. Every order move asks, and almost always there
    is none: the first read is plain SQL (compiling the ORM query cost a fifth of a whole
    report's time on the intake benchmark); the models are read only for a match."""
    table = connection.ops.quote_name(WebhookSubscription._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, events FROM {table} WHERE active = %s", [True])  # noqa: S608
        rows = cursor.fetchall()
    # A handful of rows, filtered here: JSON containment differs between databases, and
    # SQLite hands the JSON back as text where PostgreSQL decodes it.
    ids = [
        pk
        for pk, events in rows
        if event in (json.loads(events) if isinstance(events, str) else events)
    ]
    if not ids:
        return []
    return list(
        WebhookSubscription.objects.filter(pk__in=ids)
        .select_related("area", "endpoint")
        .order_by("pk")
    )


def _deliver_after_commit(ids: list[int]) -> None:
    """As notify does for its own messages: enqueue their delivery once the transaction
    commits; the periodic `notify-deliver` sweep sends whatever this misses."""
    if not ids or not settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT:
        return

    def enqueue() -> None:
        from yunbao.notify.tasks import deliver_outbox_task

        try:
            deliver_outbox_task.enqueue(ids)
        except Exception:
            log.exception("could not enqueue delivery of webhook messages %s", ids)

    transaction.on_commit(enqueue)


def queue(
    subscriptions: Iterable[WebhookSubscription],
    *,
    event: str,
    key: str,
    order: WorkOrder,
    subject: str,
    body: str,
    data: dict[str, Any],
) -> list[Message]:
    """One outbox message per subscription covering `order`, in the current transaction;
    `key` names the event, so the same event never queues a second message."""
    targets = [s for s in subscriptions if s.covers(order.area_path)]
    if not targets:
        return []
    now = timezone.now()
    payload = {
        "order": {"number": order.number, "status": order.status, "url": order_link(order)},
        "data": {"event": MESSAGE_EVENT[WebhookEvent(event)], **data},
    }
    keys = {s.endpoint_id: f"webhook:{s.pk}:{key}"[:200] for s in targets}
    new = [
        Message(
            event=MESSAGE_EVENT[WebhookEvent(event)],
            dedupe_key=keys[s.endpoint_id],
            endpoint_id=s.endpoint_id,
            order=order,
            subject=subject[:200],
            body=body,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
        for s in targets
    ]
    # ignore_conflicts: a replayed event (same key, same endpoint) adds nothing.
    Message.objects.bulk_create(new, ignore_conflicts=True)
    messages = [
        m
        for m in Message.objects.filter(dedupe_key__in=keys.values(), endpoint_id__in=keys)
        if keys.get(m.endpoint_id) == m.dedupe_key
    ]
    fresh = {m.delivery_id for m in new}
    _deliver_after_commit([m.pk for m in messages if m.delivery_id in fresh])
    return messages


def _order_data(order: WorkOrder) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status,
        "category": order.category.code if order.category else None,
        "urgency": order.urgency,
        "lat": order.lat,
        "lon": order.lon,
        "grid": order.grid.code if order.grid else None,
    }


def on_order_event(event: OrderEvent) -> None:
    """Queue the webhook messages of an order move, inside the move's transaction."""
    if event.action == "submit":
        kind = WebhookEvent.CREATED
    elif event.from_status != event.to_status:
        kind = WebhookEvent.STATUS_CHANGED
    else:
        return
    # Most moves find no subscription: one indexed read, and nothing else.
    subscriptions = _matching(kind)
    if not subscriptions:
        return
    try:
        # A savepoint: a bug here is logged and never undoes the move.
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            order = WorkOrder.objects.select_related("category", "grid").get(pk=event.order_id)
            entry = TimelineEntry.objects.get(pk=event.entry_id)
            data = _order_data(order)
            if kind == WebhookEvent.CREATED:
                subject = _("New order %(number)s") % {"number": order.number}
                data["created_at"] = order.created_at.isoformat()
                data["source"] = order.source
            else:
                subject = _("Order %(number)s: %(from)s → %(to)s") % {
                    "number": order.number,
                    "from": entry.get_from_status_display(),
                    "to": entry.get_to_status_display(),
                }
                data.update(
                    {
                        "action": entry.action,
                        "from": entry.from_status,
                        "to": entry.to_status,
                        "at": entry.at.isoformat(),
                        "entry": entry.pk,
                    }
                )
            queue(
                subscriptions,
                event=kind,
                key=f"entry:{entry.pk}",
                order=order,
                subject=subject,
                body=str(entry.action_label),
                data=data,
            )
    except Exception:
        log.exception("webhook messages for %s could not be queued", event)


def on_alerts(level: str, stage: str, orders: list[WorkOrder], now: datetime) -> None:
    """Queue `order.overdue` for orders whose stage passed its deadline, inside the SLA
    sweep's batch transaction (with their alert rows)."""
    from yunbao.sla.models import AlertLevel

    if level != AlertLevel.ESCALATION1 or not orders:
        return
    try:
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            subscriptions = _matching(WebhookEvent.OVERDUE)
            if not subscriptions:
                return
            for order in orders:
                due = order.due_for(stage)
                queue(
                    subscriptions,
                    event=WebhookEvent.OVERDUE,
                    key=f"overdue:{order.pk}:{stage}:{due.timestamp():.6f}",
                    order=order,
                    subject=_("Overdue: order %(number)s") % {"number": order.number},
                    body=_("The %(stage)s stage was due at %(due)s.")
                    % {"stage": stage, "due": timezone.localtime(due).strftime("%Y-%m-%d %H:%M")},
                    data={
                        "number": order.number,
                        "status": order.status,
                        "stage": stage,
                        "due": due.isoformat(),
                    },
                )
    except Exception:
        log.exception("overdue webhook messages could not be queued (%d orders)", len(orders))


def connect() -> None:
    """Subscribe to order events and SLA alerts (called once, from the app's `ready`)."""
    from yunbao.sla.sweep import subscribe_alerts

    subscribe_in_transaction(on_order_event)
    subscribe_alerts(on_alerts)
