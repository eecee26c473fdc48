"""The record of each time-limit alert: fired once per order × stage × deadline × level.

The unique constraint is what makes "once" hold: the sweep inserts with
`ignore_conflicts`, so a re-run, a retried task or two sweeps at the same moment add
nothing the first did not, and only the transaction that inserted a row sends its
notifications. A deadline that moves (an approved extension, a resume after suspension)
is a new `due`, so the new deadline is watched afresh.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Stage
from yunbao.workorders.models import WorkOrder


class AlertLevel(models.TextChoices):
    WARNING = "warning", _("Warning (about to be overdue)")
    ESCALATION1 = "escalation1", _("Escalation to the unit leader")
    ESCALATION2 = "escalation2", _("Escalation to the district manager")


class SlaAlert(models.Model):
    order = models.ForeignKey(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="sla_alerts"
    )
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices)
    # The deadline this alert was computed for (the stage's deadline when it fired).
    due = models.DateTimeField(_("deadline"))
    level = models.CharField(_("level"), max_length=16, choices=AlertLevel.choices)
    fired_at = models.DateTimeField(_("fired at"), db_index=True)
    # User names of the people notified (names rather than keys: the record stays readable
    # after an account is removed).
    recipients = models.JSONField(_("recipients"), default=list, blank=True)
    # Which sweep batch inserted the row: after an insert that ignored conflicts, the batch
    # reads back exactly the rows it won (through the unique key's index: no index of its
    # own to maintain on every insert), and notifies for those only.
    batch = models.UUIDField(_("sweep batch"), editable=False)

    class Meta:
        verbose_name = _("time-limit alert")
        verbose_name_plural = _("time-limit alerts")
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "stage", "due", "level"], name="sla_alert_once_per_deadline"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.stage} {self.level}"
