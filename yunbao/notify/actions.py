"""Notify's writes: queue notifications, manage endpoints and preferences, resend.

`notify(...)` is the public entry point for other apps (dispatch, sla): it writes one
outbox `Message` per target in the caller's transaction, so the messages commit with the
change or not at all, and enqueues their delivery once that transaction commits. The pair
(dedupe key, endpoint) is unique: calling it again for the same event queues nothing new.

Targets are the active personal endpoints of each recipient that their preferences allow
for this kind of event (no preference row means yes), the person's account email when the
email channel is configured (`EMAIL_URL`), and the active group endpoints of each unit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.notify.models import (
    Channel,
    Endpoint,
    EventKind,
    Message,
    Preference,
    Status,
)
from yunbao.org.models import Unit
from yunbao.workorders.models import WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

__all__ = [
    "check_address",
    "create_endpoint",
    "delete_endpoint",
    "mark_sent",
    "notify",
    "order_link",
    "resend",
    "set_endpoint_active",
    "set_preferences",
]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_ADDRESS = 500


def order_link(order: WorkOrder) -> str:
    """The order's page as people reach it (`PUBLIC_URL`)."""
    return settings.YUNBAO_PUBLIC_URL + reverse("order-detail", args=[order.number])


def notify(
    *,
    kind: str,
    recipients: Iterable[User] = (),
    units: Iterable[Unit] = (),
    subject: str,
    body: str,
    dedupe_key: str,
    order: WorkOrder | None = None,
    data: dict[str, Any] | None = None,
) -> list[Message]:
    """Queue `subject`/`body` for each target of `recipients` and `units`; returns the
    messages of this event for those targets (new or queued before)."""
    if kind not in EventKind.values:
        raise ValueError(f"unknown notification kind {kind!r}")
    if not dedupe_key or len(dedupe_key) > 200:
        raise ValueError("dedupe_key must be 1-200 characters")
    people = {u.pk: u for u in recipients if u is not None and u.is_active}
    unit_ids = {u.pk for u in units if u is not None}
    targets = _personal_targets(kind, people) if people else {}
    if unit_ids:
        group = Endpoint.objects.filter(unit_id__in=unit_ids, unit__active=True, active=True)
        for endpoint in group:
            if endpoint.kind != Channel.EMAIL or settings.YUNBAO_NOTIFY_EMAIL:
                targets.setdefault(endpoint.pk, (endpoint, None))
    if not targets:
        return []

    payload: dict[str, Any] = {"data": data or {}}
    if order is not None:
        payload["order"] = {
            "number": order.number,
            "status": order.status,
            "url": order_link(order),
        }
    existing = set(
        Message.objects.filter(dedupe_key=dedupe_key, endpoint_id__in=targets).values_list(
            "endpoint_id", flat=True
        )
    )
    now = timezone.now()
    new = [
        Message(
            event=kind,
            dedupe_key=dedupe_key,
            endpoint=endpoint,
            recipient=person,
            order=order,
            subject=subject[:200],
            body=body,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
        for pk, (endpoint, person) in targets.items()
        if pk not in existing
    ]
    # ignore_conflicts: a concurrent transaction that queued the same event first wins
    # (PostgreSQL waits for it, then skips the row) instead of failing the caller's change.
    Message.objects.bulk_create(new, ignore_conflicts=True)
    messages = list(
        Message.objects.filter(dedupe_key=dedupe_key, endpoint_id__in=targets).order_by("pk")
    )
    new_ids = {m.delivery_id for m in new}
    created = [m.pk for m in messages if m.delivery_id in new_ids]
    if created:
        _deliver_after_commit(created)
    return messages


def _personal_targets(
    kind: str, people: Mapping[int, User]
) -> dict[int, tuple[Endpoint, User | None]]:
    endpoints = list(Endpoint.objects.filter(user_id__in=people, active=True, from_account=False))
    if settings.YUNBAO_NOTIFY_EMAIL:
        endpoints += [e for u in people.values() if (e := _account_endpoint(u)) is not None]
    else:
        endpoints = [e for e in endpoints if e.kind != Channel.EMAIL]
    refused = set(
        Preference.objects.filter(user_id__in=people, event=kind, enabled=False).values_list(
            "user_id", "channel"
        )
    )
    targets: dict[int, tuple[Endpoint, User | None]] = {}
    for endpoint in endpoints:
        assert endpoint.user_id is not None  # personal endpoints by the queries above
        if (endpoint.user_id, endpoint.kind) not in refused:
            targets[endpoint.pk] = (endpoint, people[endpoint.user_id])
    return targets


def _account_endpoint(user: User) -> Endpoint | None:
    """The endpoint mirroring the user's account email, created or updated on demand."""
    email = (user.email or "").strip()
    endpoint = Endpoint.objects.filter(user=user, from_account=True).first()
    if not email:
        return None
    if endpoint is None:
        try:
            # A savepoint: a concurrent creation must not break the caller's transaction.
            with transaction.atomic():
                endpoint = Endpoint.objects.create(
                    kind=Channel.EMAIL, address=email, user=user, from_account=True
                )
        except IntegrityError:
            endpoint = Endpoint.objects.get(user=user, from_account=True)
    elif endpoint.address != email:
        endpoint.address = email
        endpoint.save(update_fields=["address"])
    return endpoint if endpoint.active else None


def _deliver_after_commit(ids: list[int]) -> None:
    """Enqueue delivery of `ids` once the current transaction commits (at once outside
    one); the periodic sweep picks up whatever this misses."""
    if settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT:
        transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(ids: list[int]) -> None:
    from yunbao.notify.tasks import deliver_outbox_task

    try:
        deliver_outbox_task.enqueue(ids)
    except Exception:
        # The messages are committed: the periodic sweep (`notify-deliver`) sends them.
        log.exception("could not enqueue delivery of notifications %s", ids)


# --- Endpoints -----------------------------------------------------------------------------


def check_address(kind: str, address: str) -> str:
    """The cleaned address for a `kind` endpoint, or ValidationError saying what is wrong."""
    address = address.strip()
    if kind not in Channel.values:
        raise ValidationError(_("Unknown channel."))
    if not address:
        raise ValidationError(_("Enter an address."))
    if len(address) > MAX_ADDRESS:
        raise ValidationError(_("The address is too long."))
    if kind == Channel.EMAIL:
        validate_email(address)
        return address
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise ValidationError(_("This is not a valid URL.")) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(_("Enter a full URL starting with https://."))
    if parts.username or parts.password:
        raise ValidationError(_("Put no user name or password in the URL."))
    if parts.scheme == "http" and not (
        settings.YUNBAO_NOTIFY_ALLOW_HTTP and parts.hostname.lower() in LOOPBACK_HOSTS
    ):
        raise ValidationError(
            _("Use https://: plain http:// is accepted only for this machine (NOTIFY_ALLOW_HTTP).")
        )
    return address


def check_endpoint(endpoint: Endpoint) -> None:
    """Raise ValidationError (per field) when `endpoint` cannot be delivered to."""
    errors: dict[str, list[str]] = {}
    try:
        endpoint.address = check_address(endpoint.kind, endpoint.address)
    except ValidationError as exc:
        errors["address"] = exc.messages
    if endpoint.kind == Channel.WEBHOOK and not endpoint.secret:
        errors["secret"] = [_("A webhook needs a secret to sign its deliveries.")]
    if (endpoint.user_id is None) == (endpoint.unit_id is None):
        errors["user"] = [_("An endpoint belongs either to a person or to a unit.")]
    if errors:
        raise ValidationError(errors)


def save_endpoint(endpoint: Endpoint) -> Endpoint:
    """Check and save `endpoint` (the admin saves through here)."""
    check_endpoint(endpoint)
    endpoint.save()
    return endpoint


def create_endpoint(
    *,
    actor: User,
    kind: str,
    address: str,
    secret: str = "",
    label: str = "",
    user: User | None = None,
    unit: Unit | None = None,
) -> Endpoint:
    """A new endpoint for `user` (default: the actor) or for `unit`.

    A webhook without a secret gets a generated one (the caller shows it once).
    """
    if unit is None and user is None:
        user = actor
    if kind == Channel.WEBHOOK and not secret:
        secret = secrets.token_urlsafe(32)
    endpoint = Endpoint(
        kind=kind,
        address=address,
        secret=secret.strip(),
        label=label.strip()[:100],
        user=user,
        unit=unit,
    )
    save_endpoint(endpoint)
    log.info("%s added a %s endpoint #%s", actor, kind, endpoint.pk)
    return endpoint


def set_endpoint_active(endpoint: Endpoint, *, active: bool) -> None:
    endpoint.active = active
    endpoint.save(update_fields=["active"])


def delete_endpoint(endpoint: Endpoint) -> bool:
    """Delete `endpoint`; one with a delivery log is switched off instead (the log stays).
    True when it was deleted."""
    try:
        with transaction.atomic():
            endpoint.delete()
        return True
    except ProtectedError:
        set_endpoint_active(endpoint, active=False)
        return False


# --- Preferences ---------------------------------------------------------------------------


def preferences_of(user: User) -> dict[tuple[str, str], bool]:
    """(event, channel) → enabled for every combination; no row means enabled."""
    stored = {(p.event, p.channel): p.enabled for p in Preference.objects.filter(user_id=user.pk)}
    return {
        (event, channel): stored.get((event, channel), True)
        for event in EventKind.values
        for channel in Channel.values
    }


def set_preferences(user: User, choices: Mapping[tuple[str, str], bool]) -> None:
    """Store `choices` ((event, channel) → enabled) for `user`; others stay as they are."""
    with transaction.atomic():
        for (event, channel), enabled in choices.items():
            if event not in EventKind.values or channel not in Channel.values:
                raise ValueError(f"unknown event or channel: {event}/{channel}")
            Preference.objects.update_or_create(
                user_id=user.pk, event=event, channel=channel, defaults={"enabled": enabled}
            )


# --- A person's decisions on undelivered messages ------------------------------------------


def resend(message: Message, *, actor: User, at: datetime | None = None) -> bool:
    """Queue `message` again (after an outage, or a checked "unknown"); False if it was
    sent or is being sent."""
    at = at or timezone.now()
    changed = Message.objects.filter(
        pk=message.pk,
        status__in=[Status.FAILED, Status.DEAD, Status.UNKNOWN, Status.CANCELLED],
    ).update(status=Status.PENDING, next_attempt_at=at, claimed_at=None, attempts=0)
    if changed:
        log.info("%s queued notification %s again", actor, message.pk)
        message.refresh_from_db()
        _deliver_after_commit([message.pk])
    return bool(changed)


def mark_sent(message: Message, *, actor: User, at: datetime | None = None) -> bool:
    """Record that an "unknown" message did arrive (checked with the recipient)."""
    at = at or timezone.now()
    changed = Message.objects.filter(pk=message.pk, status=Status.UNKNOWN).update(
        status=Status.SENT, sent_at=at, claimed_at=None
    )
    if changed:
        log.info("%s marked notification %s as sent", actor, message.pk)
        message.refresh_from_db()
    return bool(changed)
