"""The record of periodic runs in the admin, read-only: it is written by schedulers only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from yunbao.jobs.models import ScheduledRun


@admin.register(ScheduledRun)
class ScheduledRunAdmin(admin.ModelAdmin):
    list_display = ["name", "slot", "claimed_at", "enqueued_at", "task_id"]
    list_filter = ["name"]
    search_fields = ["name", "task_id"]
    date_hierarchy = "slot"
    ordering = ["-slot", "name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
