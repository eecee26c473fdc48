"""What the field app keeps: the idempotency log of field actions.

A phone on a poor network may send the same action twice (a retry after a lost answer, a
queued action flushed from two tabs). Every action carries a client-made key; the first
successful move is recorded here under it, in the same transaction as the move, and a
replay with that key gets the recorded result back instead of making a second move.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from yunbao.workorders.models import WorkOrder


class FieldAction(models.Model):
    key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    # Null for a reporter without an account (acting through their tracking token).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    order = models.ForeignKey(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="+"
    )
    action = models.CharField(_("action"), max_length=24)
    # What the first request was answered (JSON): a replay gets exactly this back.
    result = models.JSONField(_("result"), default=dict)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("field action")
        verbose_name_plural = _("field actions")

    def __str__(self) -> str:
        return f"{self.order_id} {self.action} {self.key}"
