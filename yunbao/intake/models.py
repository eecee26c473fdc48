"""What intake keeps beside the work order: submissions, "me too"s and duplicate suggestions.

A `Submission` ties an order to the request that created it: the client's idempotency key
(so a retry never makes a second order), the reporting phone's device token (for "my
reports" without an account) and the unguessable tracking token of the public tracking page.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from yunbao.workorders.models import WorkOrder


class Submission(models.Model):
    key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    # SHA-256 of the normalised request: the same key with a different report is refused.
    digest = models.CharField(_("request digest"), max_length=64)
    device = models.CharField(_("device token"), max_length=64, db_index=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="submissions",
    )
    order = models.OneToOneField(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="submission"
    )
    tracking_token = models.CharField(_("tracking token"), max_length=32, unique=True)
    # How the location was found: gps, map, qr (area centre) or exif.
    location_source = models.CharField(_("location source"), max_length=8, default="gps")
    created_at = models.DateTimeField(_("submitted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")

    def __str__(self) -> str:
        return f"{self.order_id} {self.key}"


class MeToo(models.Model):
    """A resident confirming an existing open order instead of reporting it again."""

    order = models.ForeignKey(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="me_toos"
    )
    device = models.CharField(_("device token"), max_length=64, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("me too")
        verbose_name_plural = _("me toos")
        constraints = [
            models.UniqueConstraint(fields=["order", "device"], name="one_me_too_per_device")
        ]

    def __str__(self) -> str:
        return f"{self.order_id} +1"


class DuplicateSuggestion(models.Model):
    """The machine thinks `order` may repeat `candidate`; a dispatcher decides."""

    order = models.ForeignKey(
        WorkOrder,
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="duplicate_suggestions",
    )
    candidate = models.ForeignKey(
        WorkOrder, verbose_name=_("possible original"), on_delete=models.CASCADE, related_name="+"
    )
    score = models.FloatField(_("score"))
    distance_m = models.FloatField(_("distance (m)"))
    text_similarity = models.FloatField(_("text similarity"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("duplicate suggestion")
        verbose_name_plural = _("duplicate suggestions")
        ordering = ["-score"]
        constraints = [
            models.UniqueConstraint(fields=["order", "candidate"], name="one_suggestion_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ~ {self.candidate_id} ({self.score:.2f})"
