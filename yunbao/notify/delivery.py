"""Delivering the outbox: claim, send, mark; retries with backoff; crash recovery.

`deliver_due()` takes due messages (pending, or failed with `next_attempt_at` reached) one
at a time:

1. **Claim** in its own short transaction: status `sending`, `attempts + 1`, `claimed_at`.
   The claim commits *before* anything is sent, so a second worker skips the message
   (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises writers anyway, and
   the claim is a conditional UPDATE that only one worker can win).
2. **Send** through the endpoint's channel (`yunbao.notify.senders`), outside any
   transaction, with `NOTIFY_TIMEOUT` on each network operation.
3. **Mark** in one transaction with its `DeliveryAttempt` log row: `sent`; or `failed`
   with the next try after `NOTIFY_BACKOFF_SECONDS · 2^(attempts-1)` (at most
   `NOTIFY_BACKOFF_MAX_SECONDS`); or `dead` once `NOTIFY_MAX_ATTEMPTS` tries failed.

Nothing is lost: a message leaves the outbox only as `sent`, `dead` (after its tries, kept
with its log for a person to resend), `unknown` (see below) or `cancelled` (its endpoint
was switched off). A channel that is down just keeps its messages `failed` until it is back.

Nothing is sent twice to one target for one event: the outbox holds one message per
(event, endpoint), and a message is sent again only when it certainly did not arrive
(`NotDelivered`) — except when the outcome is unknown:

- a try that went out but got no answer (`Unknown`: a read timeout, a dropped connection);
- a worker that died between sending and marking: the message stays `sending`, and after
  `NOTIFY_LEASE_SECONDS` the next run finds it.

For the **generic webhook** both are tried again with the same `X-Yunbao-Delivery` id, so
a receiver that deduplicates on it (as the webhook docs ask) acts once. **WeCom, DingTalk
and email** have no such key: a second try could post the message twice in the group or
the inbox, so the message becomes `unknown` and waits in the admin's delivery log for a
person, who checks with the recipient and either sends it again or marks it as sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.notify import senders
from yunbao.notify.models import (
    DUE_STATUSES,
    IDEMPOTENT_CHANNELS,
    Channel,
    DeliveryAttempt,
    Message,
    Status,
)

log = logging.getLogger(__name__)
Outcome = DeliveryAttempt.Outcome


@dataclass
class Report:
    """What one run did, by final state of each message it touched."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    unknown: int = 0
    cancelled: int = 0
    recovered: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try (1-based)."""
    base = settings.YUNBAO_NOTIFY_BACKOFF_SECONDS
    seconds = min(base * 2 ** max(attempts - 1, 0), settings.YUNBAO_NOTIFY_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds)


def deliver_due(
    now: datetime | None = None, limit: int = 100, ids: Iterable[int] | None = None
) -> Report:
    """Deliver up to `limit` due messages (only those in `ids`, if given).

    `now` fixes the clock (tests); by default each step reads the time afresh, so a long
    run never makes its own claims look older than they are.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else timezone.now
    only = None if ids is None else list(ids)
    report = Report()
    report.recovered = recover_interrupted(clock())
    # Stop well within the lease, so no other worker takes our claims for crashed ones.
    budget = settings.YUNBAO_NOTIFY_LEASE_SECONDS / 2
    started = time.monotonic()
    for _i in range(limit):
        if time.monotonic() - started > budget:
            break
        message = claim_next(clock(), only)
        if message is None:
            break
        final = deliver_claimed(message, clock)
        setattr(report, final, getattr(report, final) + 1)
    return report


def claim_next(now: datetime, ids: list[int] | None = None) -> Message | None:
    """Mark the next due message `sending` and commit; None when nothing is due."""
    while True:
        with transaction.atomic():
            due = Message.objects.filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            if ids is not None:
                due = due.filter(pk__in=ids)
            row = (
                due.order_by("next_attempt_at", "pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", "status", "attempts")
                .first()
            )
            if row is None:
                return None
            pk, status, attempts = row
            won = Message.objects.filter(pk=pk, status=status, attempts=attempts).update(
                status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now
            )
        if won:
            return Message.objects.select_related("endpoint").get(pk=pk)
        # Another worker claimed it between our read and our update: take the next one.


def deliver_claimed(message: Message, clock: Callable[[], datetime] = timezone.now) -> str:
    """Send a claimed message and record the outcome; returns its new status."""
    endpoint = message.endpoint
    if not endpoint.active or (endpoint.kind == Channel.EMAIL and not settings.YUNBAO_NOTIFY_EMAIL):
        reason = (
            _("The endpoint is switched off.")
            if not endpoint.active
            else _("The email channel is off (EMAIL_URL is empty).")
        )
        return mark(message, Outcome.FAILED, at=clock(), error=reason, cancel=True)
    started = time.monotonic()
    try:
        result = senders.send(message, endpoint, timeout=settings.YUNBAO_NOTIFY_TIMEOUT)
    except senders.NotDelivered as exc:
        return mark(
            message,
            Outcome.FAILED,
            at=clock(),
            error=exc.error,
            http_status=exc.http_status,
            response=exc.response,
            started=started,
        )
    except senders.Unknown as exc:
        return mark(
            message,
            Outcome.UNKNOWN,
            at=clock(),
            error=exc.error,
            http_status=exc.http_status,
            response=exc.response,
            started=started,
        )
    except Exception as exc:
        # A bug, possibly after the message went out: treated as unknown, never resent
        # blindly on a channel without an idempotency key.
        log.exception("notification %s: unexpected error while sending", message.pk)
        return mark(message, Outcome.UNKNOWN, at=clock(), error=f"{type(exc).__name__}: {exc}")
    return mark(
        message,
        Outcome.SENT,
        at=clock(),
        http_status=result.http_status,
        response=result.response,
        started=started,
    )


def mark(
    message: Message,
    outcome: str,
    *,
    at: datetime,
    error: str = "",
    http_status: int | None = None,
    response: str = "",
    started: float | None = None,
    cancel: bool = False,
) -> str:
    """Record a try's outcome and move the message on; returns its new status."""
    update: dict[str, object] = {"claimed_at": None, "last_error": error[:2000]}
    if cancel:
        status = Status.CANCELLED
    elif outcome == Outcome.SENT:
        status = Status.SENT
        update["sent_at"] = at
    elif outcome == Outcome.UNKNOWN and message.endpoint.kind not in IDEMPOTENT_CHANNELS:
        status = Status.UNKNOWN
    elif message.attempts >= settings.YUNBAO_NOTIFY_MAX_ATTEMPTS:
        status = Status.DEAD
    else:
        status = Status.FAILED
        update["next_attempt_at"] = at + backoff(message.attempts)
    duration = 0 if started is None else round((time.monotonic() - started) * 1000)
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            message=message,
            at=at,
            outcome=outcome,
            http_status=http_status,
            error=error[:2000],
            response=response[:500],
            duration_ms=duration,
        )
        # Only our own claim is ours to settle (a recovery may have taken it back).
        Message.objects.filter(
            pk=message.pk, status=Status.SENDING, attempts=message.attempts
        ).update(status=status, **update)
    _log(message, status, error)
    return str(status)


def _log(message: Message, status: str, error: str) -> None:
    where = f"{message.endpoint.kind} endpoint #{message.endpoint_id}"
    if status == Status.SENT:
        log.info("notification %s sent to %s", message.pk, where)
    elif status == Status.FAILED:
        log.warning(
            "notification %s to %s failed (try %s), will retry: %s",
            message.pk,
            where,
            message.attempts,
            error,
        )
    else:
        log.error("notification %s to %s is %s: %s", message.pk, where, status, error)


def recover_interrupted(now: datetime) -> int:
    """Settle messages left `sending` longer than the lease (their worker died)."""
    cutoff = now - timedelta(seconds=settings.YUNBAO_NOTIFY_LEASE_SECONDS)
    stale = list(
        Message.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff).select_related(
            "endpoint"
        )
    )
    recovered = 0
    for message in stale:
        if message.endpoint.kind in IDEMPOTENT_CHANNELS:
            error = _(
                "Interrupted while sending; sent again with the same delivery id, which the "
                "receiver deduplicates."
            )
            status = (
                Status.DEAD
                if message.attempts >= settings.YUNBAO_NOTIFY_MAX_ATTEMPTS
                else Status.FAILED
            )
        else:
            error = _(
                "Interrupted while sending: it may or may not have arrived. Not sent again, "
                "to avoid a duplicate; check with the recipient, then resend or mark as sent."
            )
            status = Status.UNKNOWN
        with transaction.atomic():
            done = Message.objects.filter(
                pk=message.pk, status=Status.SENDING, claimed_at=message.claimed_at
            ).update(status=status, claimed_at=None, last_error=error, next_attempt_at=now)
            if done:
                DeliveryAttempt.objects.create(
                    message=message, at=now, outcome=Outcome.UNKNOWN, error=error
                )
        if done:
            recovered += 1
            log.error("notification %s was interrupted while sending: now %s", message.pk, status)
    return recovered
