"""The record of periodic runs: one row per periodic task and slot, unique.

The unique constraint on (name, slot) is what makes the scheduler safe to run in every
worker process at once: whichever inserts the row first enqueues the run, the others fail
the insert and move on (see `yunbao.jobs.scheduler`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ScheduledRun(models.Model):
    """A periodic task enqueued (or being enqueued) for one slot of its schedule."""

    name = models.CharField(_("periodic task"), max_length=100)
    # The moment the slot began: the scheduled time of this run (UTC in the database).
    slot = models.DateTimeField(_("scheduled for"))
    task_path = models.CharField(_("task"), max_length=200)
    claimed_at = models.DateTimeField(_("claimed at"))
    # Empty while a scheduler holds the claim but has not yet pushed the task to a queue
    # outside the database (Redis); a claim left empty too long is taken over.
    enqueued_at = models.DateTimeField(_("enqueued at"), null=True, blank=True)
    task_id = models.CharField(_("task result id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("scheduled run")
        verbose_name_plural = _("scheduled runs")
        ordering = ["-slot", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "slot"], name="one_run_per_slot"),
        ]
        indexes = [models.Index(fields=["slot"], name="jobs_run_slot")]

    def __str__(self) -> str:
        return f"{self.name} @ {self.slot.isoformat()}"
