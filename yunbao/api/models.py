"""Records of the REST API: per-user API tokens and webhook subscriptions.

An `ApiToken` stores only the key's lookup prefix and its SHA-256 (`yunbao.lib.apikeys`);
the key itself is shown once, when it is made. Revoking sets `revoked_at`: the row stays,
so the admin can tell which key was used when.

A `WebhookSubscription` tells an external system of order events (created, status changed,
overdue) in an area. Its deliveries go through notify's outbox on its own webhook
`Endpoint` (URL, HMAC secret), which belongs to an internal, inactive account so that no
personal notification is ever sent to it (see `yunbao.api.webhooks`).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from yunbao.geo.models import Area
from yunbao.lib.apikeys import PREFIX_MAX_LENGTH
from yunbao.notify.models import Endpoint


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(_("name"), max_length=100)
    # "yb_" and the key's 8-character lookup id: unique, shown so people tell keys apart.
    prefix = models.CharField(_("prefix"), max_length=PREFIX_MAX_LENGTH, unique=True)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    # Updated at most once a minute (see `yunbao.api.tokens.USE_RECORD_INTERVAL`).
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def usable(self, now: datetime | None = None) -> bool:
        """Not revoked, not expired."""
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class WebhookEvent(models.TextChoices):
    CREATED = "created", _("Order created")
    STATUS_CHANGED = "status_changed", _("Order status changed")
    OVERDUE = "overdue", _("Order overdue")


class WebhookSubscription(models.Model):
    client = models.CharField(
        _("client"),
        max_length=100,
        help_text=_("The external system that receives these events."),
    )
    # Who set it up (an administrator); kept for the record, not for delivery.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Where and how deliveries go: URL and HMAC secret, retries and log (notify's outbox).
    endpoint = models.OneToOneField(
        Endpoint,
        verbose_name=_("endpoint"),
        on_delete=models.PROTECT,
        related_name="webhook_subscription",
        editable=False,
    )
    events = models.JSONField(_("events"), default=list)
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Only orders in this area and below; empty for every order."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["client", "id"]

    def __str__(self) -> str:
        return f"{self.client} ({', '.join(self.events)})"

    @property
    def url(self) -> str:
        return self.endpoint.address

    def covers(self, area_path: str) -> bool:
        """Whether an order filed under `area_path` is in this subscription's area."""
        return self.area is None or area_path.startswith(self.area.path)
