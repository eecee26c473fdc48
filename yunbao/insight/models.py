"""The aggregates the indicators are read from, the per-order record of what each order
contributed to them, and the weights of the composite scores.

`Cell` holds counts per (grain, local day, area, unit, scene, category, source); `DurationCell`
holds stage durations per the same key, stage and histogram bucket (count and seconds, for
the mean and the 90th percentile). Each order is counted in several roll-ups (`Grain`,
defined in `yunbao.insight.store.CUBES`): the full key at its grid and street, and
coarser ones that drop the scene and category (village or street × unit × source) or every
dimension (the district), so a query sums the few rows of the coarsest roll-up that holds
what it filters and groups by, and a million orders still answer in milliseconds.
Ids are plain integers with 0 for "none", not foreign keys: a unique key must conflict
(NULLs never do) for the increment upserts, and no lookup checks each row.

`OrderFacts` keeps what each order contributed at its last move, so the next move retracts
exactly that and adds the new contribution (`yunbao.insight.store`).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

# The counted measures, in one place: the columns of `Cell` (see `yunbao.insight.facts` for
# the exact meaning of each).
MEASURES: tuple[str, ...] = (
    "reports",
    "valid",
    "due_accept",
    "responded_on_time",
    "filed",
    "filed_on_time",
    "filed_voided",
    "due_dispatch",
    "dispatched",
    "dispatched_on_time",
    "returned",
    "due_handle",
    "handled",
    "handled_on_time",
    "due_check",
    "checked",
    "checked_on_time",
    "due_close",
    "closed",
    "closed_on_time",
    "reworked",
    "reworks",
    "rated",
    "rating_sum",
    "satisfied",
)
KEY_FIELDS: tuple[str, ...] = ("grain", "day", "area", "unit", "scene", "category", "source")


class Grain(models.IntegerChoices):
    """Which roll-up (cube) a row belongs to: the area level its `area` column holds and
    the dimensions it keeps (the others are stored as 0 / ""). `yunbao.insight.store.CUBES`
    defines each; a query reads the coarsest one that can answer it."""

    GRID = 1, _("Grid")
    # 2 was the full key per village, dropped for the roll-ups below (migration 0003).
    STREET = 3, _("Street")
    VILLAGE_UNIT_SOURCE = 4, _("Village × unit × source")
    STREET_UNIT_SOURCE = 5, _("Street × unit × source")
    DISTRICT = 6, _("District")


class DurationStage(models.TextChoices):
    ACCEPT = "accept", _("Filing (立案)")
    DISPATCH = "dispatch", _("Dispatch (派遣)")
    HANDLE = "handle", _("Handling (处置)")
    CHECK = "check", _("Check (核查)")
    TOTAL = "total", _("Report to close")


class _Key(models.Model):
    grain = models.PositiveSmallIntegerField(_("grain"), choices=Grain.choices)
    day = models.DateField(_("local day"))
    # The grid's path (grain GRID) or the village's path (grain VILLAGE); an order filed
    # under the district has the district's path at both grains.
    area = models.CharField(_("area path"), max_length=255)
    unit = models.IntegerField(_("unit id"), default=0)
    scene = models.IntegerField(_("scene id"), default=0)
    category = models.IntegerField(_("category id"), default=0)
    source = models.CharField(_("source"), max_length=16, default="")

    class Meta:
        abstract = True


def _key_str(row: _Key) -> str:
    return f"{row.day} {row.area} u{row.unit} s{row.scene} c{row.category} {row.source}"


def _count(label: Any) -> models.IntegerField[int, int]:
    return models.IntegerField(label, default=0)


class Cell(_Key):
    """Counts of one key on one local day (see `yunbao.insight.facts` for each measure)."""

    reports = _count(_("reports"))
    valid = _count(_("valid reports"))
    due_accept = _count(_("due to file or reject"))
    responded_on_time = _count(_("responded on time"))
    filed = _count(_("filed"))
    filed_on_time = _count(_("filed on time"))
    filed_voided = _count(_("filed, then voided"))
    due_dispatch = _count(_("due to dispatch"))
    dispatched = _count(_("dispatched"))
    dispatched_on_time = _count(_("dispatched on time"))
    returned = _count(_("dispatches returned"))
    due_handle = _count(_("due to handle"))
    handled = _count(_("handled"))
    handled_on_time = _count(_("handled on time"))
    due_check = _count(_("due to check"))
    checked = _count(_("checked"))
    checked_on_time = _count(_("checked on time"))
    due_close = _count(_("due to close"))
    closed = _count(_("closed"))
    closed_on_time = _count(_("closed on time"))
    reworked = _count(_("reworked orders"))
    reworks = _count(_("reworks"))
    rated = _count(_("rated"))
    rating_sum = _count(_("sum of ratings"))
    satisfied = _count(_("satisfied ratings"))

    class Meta:
        verbose_name = _("indicator cell")
        verbose_name_plural = _("indicator cells")
        constraints = [models.UniqueConstraint(fields=KEY_FIELDS, name="insight_cell_key")]
        indexes = [
            models.Index(fields=["grain", "unit", "day"], name="insight_cell_unit"),
            models.Index(fields=["grain", "category", "day"], name="insight_cell_category"),
        ]

    def __str__(self) -> str:
        return _key_str(self)


class DurationCell(_Key):
    """Durations of one stage on one key and day, in one histogram bucket
    (`yunbao.insight.facts.BUCKET_EDGES`)."""

    stage = models.CharField(_("stage"), max_length=8, choices=DurationStage.choices)
    bucket = models.PositiveSmallIntegerField(_("bucket"))
    n = models.IntegerField(_("count"), default=0)
    seconds = models.BigIntegerField(_("seconds"), default=0)

    class Meta:
        verbose_name = _("duration cell")
        verbose_name_plural = _("duration cells")
        constraints = [
            models.UniqueConstraint(
                fields=[*KEY_FIELDS, "stage", "bucket"], name="insight_duration_key"
            )
        ]
        indexes = [
            models.Index(fields=["grain", "unit", "day"], name="insight_duration_unit"),
            models.Index(fields=["grain", "category", "day"], name="insight_duration_category"),
        ]

    def __str__(self) -> str:
        return f"{_key_str(self)} {self.stage}#{self.bucket}"


class OrderFacts(models.Model):
    """What one order contributes to the aggregates now: `counts` is {day: {measure: n}},
    `durations` is [[day, stage, seconds], …], under the key columns beside them."""

    order_id = models.BigIntegerField(_("order id"), primary_key=True)
    area = models.CharField(_("area path"), max_length=255)
    village = models.CharField(_("village path"), max_length=255)
    unit = models.IntegerField(_("unit id"), default=0)
    scene = models.IntegerField(_("scene id"), default=0)
    category = models.IntegerField(_("category id"), default=0)
    source = models.CharField(_("source"), max_length=16, default="")
    counts = models.JSONField(_("counts"), default=dict)
    durations = models.JSONField(_("durations"), default=list)

    class Meta:
        verbose_name = _("order facts")
        verbose_name_plural = _("order facts")

    def __str__(self) -> str:
        return str(self.order_id)


class DirtyOrder(models.Model):
    """An order moved since its facts were last counted: the queue `store.catch_up` works
    through. `version` grows with each move, so a move made while the order is being counted
    keeps it queued (see `store.catch_up`)."""

    order_id = models.BigIntegerField(_("order id"), primary_key=True)
    version = models.BigIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("order to count")
        verbose_name_plural = _("orders to count")

    def __str__(self) -> str:
        return str(self.order_id)


class Score(models.TextChoices):
    SHIFT_LEADER = "shift_leader", _("Shift leader (值班长)")
    DISPATCHER = "dispatcher", _("Dispatcher (派遣员)")
    INSPECTOR = "inspector", _("Inspector (监督员)")
    UNIT = "unit", _("Responsible unit (专业部门)")
    AREA = "area", _("Street or village")


class ScoreWeight(models.Model):
    """One indicator's weight in one composite score. A score with no rows here uses its
    default weights (`yunbao.insight.indicators.DEFAULT_WEIGHTS`)."""

    score = models.CharField(_("score"), max_length=16, choices=Score.choices)
    indicator = models.CharField(_("indicator"), max_length=32)
    weight = models.DecimalField(_("weight"), max_digits=6, decimal_places=3)

    class Meta:
        verbose_name = _("score weight")
        verbose_name_plural = _("score weights")
        ordering = ["score", "indicator"]
        constraints = [
            models.UniqueConstraint(fields=["score", "indicator"], name="insight_weight_once")
        ]

    def __str__(self) -> str:
        return f"{self.score}: {self.indicator} × {self.weight}"


class ImportedCase(models.Model):
    """One case of a legacy system imported as an order (`yunbao import-orders`): a re-run
    finds it here by (system, its id there) and skips it, whether or not the row changed
    (`row_digest` tells which)."""

    system = models.CharField(_("legacy system"), max_length=64)
    external_id = models.CharField(_("id in the legacy system"), max_length=128)
    order = models.ForeignKey(
        "workorders.WorkOrder",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    # SHA-256 of the row's mapped cells, as read.
    row_digest = models.CharField(_("row digest"), max_length=64)
    imported_at = models.DateTimeField(_("imported at"))

    class Meta:
        verbose_name = _("imported case")
        verbose_name_plural = _("imported cases")
        constraints = [
            models.UniqueConstraint(
                fields=["system", "external_id"], name="insight_imported_case_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.system}:{self.external_id}"
