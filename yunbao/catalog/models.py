"""The catalogue: scenes, categories (standard 部件/事件 codes), urgency and stage time limits.

The standard catalogue ships as data (`catalog/data/catalog.json`, loaded by a migration
and by `yunbao load-catalog`) and stays editable in the admin.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _


def _pick(zh: str, en: str) -> str:
    if en and (get_language() or "").startswith("en"):
        return en
    return zh


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class Stage(models.TextChoices):
    """Stages that carry a time limit (the standard's 立案, 派遣, 处置, 核查)."""

    ACCEPT = "accept", _("Accept (filing)")
    DISPATCH = "dispatch", _("Dispatch")
    HANDLE = "handle", _("Handle")
    CHECK = "check", _("Check and close")


class TimeUnit(models.TextChoices):
    WORKING_HOURS = "working_hours", _("working hours")
    WORKING_DAYS = "working_days", _("working days")
    NATURAL_HOURS = "natural_hours", _("natural hours")


class Kind(models.TextChoices):
    EVENT = "event", _("Event (事件)")
    COMPONENT = "component", _("Component (部件)")


class Scene(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=64, blank=True)
    sort = models.PositiveSmallIntegerField(pgettext_lazy("sort position", "order"), default=0)

    class Meta:
        verbose_name = _("scene")
        verbose_name_plural = _("scenes")
        ordering = ["sort", "code"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return _pick(self.name, self.name_en)


class Category(models.Model):
    # Standard code: kind prefix + major (2) + minor (2), e.g. "E0102" 暴露垃圾, "C0305" 果皮箱.
    code = models.CharField(_("code"), max_length=16, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    major_code = models.CharField(_("major class code"), max_length=2)
    major_name = models.CharField(_("major class"), max_length=64)
    major_name_en = models.CharField(_("major class (English)"), max_length=64, blank=True)
    minor_code = models.CharField(_("minor class code"), max_length=2)
    name = models.CharField(_("name"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    scenes = models.ManyToManyField(Scene, verbose_name=_("scenes"), related_name="categories")
    keywords = models.TextField(
        _("keywords"), blank=True, help_text=_("Words that suggest this category, one per line.")
    )
    default_urgency = models.CharField(
        _("default urgency"), max_length=16, choices=Urgency.choices, default=Urgency.NORMAL
    )
    icon = models.CharField(_("icon"), max_length=32, blank=True)
    active = models.BooleanField(_("active"), default=True)
    sort = models.PositiveSmallIntegerField(pgettext_lazy("sort position", "order"), default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.display_name}"

    @property
    def display_name(self) -> str:
        return _pick(self.name, self.name_en)

    @property
    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.splitlines() if k.strip()]


class TimeLimit(models.Model):
    """How long a stage may take for a category at an urgency."""

    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="time_limits"
    )
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices)
    urgency = models.CharField(_("urgency"), max_length=16, choices=Urgency.choices)
    amount = models.DecimalField(_("amount"), max_digits=6, decimal_places=2)
    unit = models.CharField(_("unit"), max_length=16, choices=TimeUnit.choices)

    class Meta:
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "stage", "urgency"], name="one_limit_per_stage_urgency"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.category.code} {self.stage}/{self.urgency}: {self.amount} {self.unit}"
