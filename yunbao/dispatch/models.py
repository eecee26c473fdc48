"""Dispatch's records: classifier versions, corrections, routing rules, thresholds, decisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Category
from yunbao.geo.models import Area
from yunbao.org.models import Unit
from yunbao.workorders.models import WorkOrder


class ClassifierModel(models.Model):
    """One trained text classifier, with how well it scored; one is active at a time."""

    class Source(models.TextChoices):
        KEYWORDS = "keywords", _("Catalogue keywords (cold start)")
        ORDERS = "orders", _("Closed orders and corrections")
        FILE = "file", _("Labelled file")

    version = models.PositiveIntegerField(_("version"), unique=True)
    source = models.CharField(_("trained from"), max_length=16, choices=Source.choices)
    created_at = models.DateTimeField(_("trained at"), auto_now_add=True)
    samples = models.PositiveIntegerField(_("training samples"), default=0)
    # accuracy, macro_f1 (held out), per-class report, labels …
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    # The fitted scikit-learn pipeline, serialised with joblib.
    blob = models.BinaryField(_("model"))
    active = models.BooleanField(_("active"), default=False)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("classifier model")
        verbose_name_plural = _("classifier models")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=models.Q(active=True), name="one_active_classifier"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.source})"


class Correction(models.Model):
    """A dispatcher set another category than the machine's: training data."""

    order = models.ForeignKey(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="corrections"
    )
    text = models.TextField(_("text"))
    predicted = models.ForeignKey(
        Category,
        verbose_name=_("predicted"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    corrected = models.ForeignKey(
        Category, verbose_name=_("corrected to"), on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("correction")
        verbose_name_plural = _("corrections")

    def __str__(self) -> str:
        return f"{self.order_id}: → {self.corrected_id}"


class RoutingRule(models.Model):
    """(category or category group, area) → responsible unit. The most specific rule wins."""

    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("Empty: any category (or the group below)."),
    )
    # A category group: kind + major class, e.g. "event:05" (街面秩序) or "component:04".
    category_group = models.CharField(
        _("category group"),
        max_length=16,
        blank=True,
        help_text=_("kind:major, e.g. event:05; used when no category is set."),
    )
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("Empty: the whole district."),
    )
    unit = models.ForeignKey(Unit, verbose_name=_("responsible unit"), on_delete=models.CASCADE)
    active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        what = self.category or self.category_group or "*"
        return f"{what} @ {self.area or '*'} → {self.unit}"


class AutoThreshold(models.Model):
    """The confidence from which a category is accepted and dispatched automatically."""

    category = models.OneToOneField(
        Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="+"
    )
    threshold = models.FloatField(_("threshold"))
    enabled = models.BooleanField(_("automatic dispatch"), default=True)

    class Meta:
        verbose_name = _("automatic threshold")
        verbose_name_plural = _("automatic thresholds")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0, threshold__lte=1), name="threshold_0_1"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category_id}: {self.threshold}"


class DispatchDecision(models.Model):
    """What the machine concluded for an order, and why; shown to the dispatcher."""

    order = models.OneToOneField(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="decision"
    )
    category = models.ForeignKey(
        Category,
        verbose_name=_("recognised category"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    confidence = models.FloatField(_("confidence"), default=0)
    rule = models.ForeignKey(
        RoutingRule, verbose_name=_("rule"), null=True, blank=True, on_delete=models.SET_NULL
    )
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("worker"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    automatic = models.BooleanField(_("dispatched automatically"), default=False)
    # Why: category and confidence, grid, rule, worker ranking, and why not automatic.
    reasons = models.JSONField(_("reasons"), default=dict, blank=True)
    model_version = models.PositiveIntegerField(_("model version"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("dispatch decision")
        verbose_name_plural = _("dispatch decisions")

    def __str__(self) -> str:
        return f"{self.order_id} → {self.unit_id} ({'auto' if self.automatic else 'manual'})"
