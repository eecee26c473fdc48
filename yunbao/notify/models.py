"""Notification records: where to deliver (`Endpoint`), what each person wants
(`Preference`), the outbox (`Message`) and its delivery log (`DeliveryAttempt`).

A `Message` is one event for one endpoint. The pair (`dedupe_key`, `endpoint`) is unique,
so however often an event is reported (a retried task, a second subscriber) it is queued
once per target; `delivery_id` is the idempotency key a generic-webhook receiver sees on
every try of the same message.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from yunbao.org.models import Unit
from yunbao.workorders.models import WorkOrder


class EventKind(models.TextChoices):
    """What a message is about; preferences are kept per kind."""

    ORDER_DISPATCHED = "order_dispatched", _("Order dispatched")
    ORDER_HANDLED = "order_handled", _("Order handled")
    ORDER_CLOSED = "order_closed", _("Order closed")
    ORDER_REWORKED = "order_reworked", _("Order sent back for rework")
    REQUEST_PENDING = "request_pending", _("Request waiting for approval")
    SLA_WARNING = "sla_warning", _("Deadline approaching")
    SLA_ESCALATION = "sla_escalation", _("Deadline missed (escalation)")
    UNIT_ALERT = "unit_alert", _("Unit alert (nobody on duty, staff out of their area)")


class Channel(models.TextChoices):
    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk robot")
    WEBHOOK = "webhook", _("Webhook (signed JSON)")
    EMAIL = "email", _("Email")


# Channels that carry an idempotency key the receiver can dedupe on: only these are sent
# again when a try ended without knowing whether it arrived (see `yunbao.notify.delivery`).
IDEMPOTENT_CHANNELS = frozenset({Channel.WEBHOOK})
HTTP_CHANNELS = frozenset({Channel.WECOM, Channel.DINGTALK, Channel.WEBHOOK})


def mask(value: str, keep: int = 4) -> str:
    """`value` with all but its first `keep` characters hidden (secrets in pages and logs)."""
    if not value:
        return ""
    if len(value) <= keep * 2:
        return "•" * 6
    return value[:keep] + "•" * 6


def mask_url(url: str) -> str:
    """The URL with every query value masked: WeCom's `key` and DingTalk's `access_token`
    are the robot's credentials, so they are never shown or logged in full."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask(url, keep=8)
    if not parts.query:
        return url
    query = urlencode([(k, mask(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class Endpoint(models.Model):
    """A delivery target: a person's email or webhook, or a unit's group robot."""

    kind = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    label = models.CharField(_("label"), max_length=100, blank=True)
    # A URL for the HTTP channels, an address for email.
    address = models.CharField(_("URL or email address"), max_length=500)
    # DingTalk's signing secret (SEC…) or the webhook's HMAC key; empty for WeCom and email.
    secret = models.CharField(_("secret"), max_length=200, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notify_endpoints",
    )
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notify_endpoints",
    )
    # The person's account email, created and kept in step by `actions.notify`.
    from_account = models.BooleanField(_("account email"), default=False, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("endpoint")
        verbose_name_plural = _("endpoints")
        ordering = ["kind", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True, unit__isnull=False)
                | Q(user__isnull=False, unit__isnull=True),
                name="notify_endpoint_one_owner",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(from_account=True),
                name="notify_one_account_email",
            ),
        ]

    def __str__(self) -> str:
        owner = self.user if self.user_id else self.unit
        return f"{self.get_kind_display()} · {self.label or self.masked_address} ({owner})"

    @property
    def masked_address(self) -> str:
        return self.address if self.kind == Channel.EMAIL else mask_url(self.address)


class Preference(models.Model):
    """Whether a person wants `event` through `channel`; no row means yes."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="notify_preferences",
    )
    event = models.CharField(_("event"), max_length=32, choices=EventKind.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "event", "channel"], name="notify_one_preference"
            )
        ]

    def __str__(self) -> str:
        state = _("on") if self.enabled else _("off")
        return f"{self.user} · {self.get_event_display()} · {self.get_channel_display()}: {state}"


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Gave up")
    # Interrupted after it may have gone out, on a channel without an idempotency key:
    # sending again could duplicate it, so a person decides (resend or mark as sent).
    UNKNOWN = "unknown", _("Unknown, check")
    CANCELLED = "cancelled", _("Cancelled (endpoint off)")


DUE_STATUSES = (Status.PENDING, Status.FAILED)


class Message(models.Model):
    """The outbox: one event for one endpoint, written in the transaction of the change."""

    event = models.CharField(_("event"), max_length=32, choices=EventKind.choices)
    dedupe_key = models.CharField(_("dedupe key"), max_length=200)
    delivery_id = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True)
    endpoint = models.ForeignKey(
        Endpoint, verbose_name=_("endpoint"), on_delete=models.PROTECT, related_name="messages"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    order = models.ForeignKey(
        WorkOrder,
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    payload = models.JSONField(_("data"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    claimed_at = models.DateTimeField(_("sending since"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key", "endpoint"], name="notify_once_per_endpoint"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.get_event_display()} → {self.endpoint_id}: {self.subject}"


class DeliveryAttempt(models.Model):
    """One try of one message: the delivery log."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Delivered")
        FAILED = "failed", _("Not delivered")
        UNKNOWN = "unknown", _("Unknown (interrupted)")

    message = models.ForeignKey(
        Message, verbose_name=_("message"), on_delete=models.CASCADE, related_name="log"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The start of the receiver's answer, to tell a robot's errmsg from a proxy's page.
    response = models.CharField(_("response"), max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery log")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.at:%Y-%m-%d %H:%M:%S} {self.outcome}"

    @property
    def ok(self) -> bool:
        return self.outcome == self.Outcome.SENT
