"""Read-only admin of the time-limit alerts: what fired, when, for which deadline, to whom."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from yunbao.sla.models import SlaAlert


@admin.register(SlaAlert)
class SlaAlertAdmin(admin.ModelAdmin[SlaAlert]):
    list_display = ("fired_at", "order", "stage", "level", "due", "recipient_list")
    list_filter = ("level", "stage", ("fired_at", admin.DateFieldListFilter))
    search_fields = ("order__number",)
    date_hierarchy = "fired_at"
    list_select_related = ("order",)
    readonly_fields = ("order", "stage", "due", "level", "fired_at", "recipients", "batch")
    fields = readonly_fields

    @admin.display(description=_("recipients"))
    def recipient_list(self, obj: SlaAlert) -> str:
        return ", ".join(obj.recipients) or "—"

    # The record is the sweep's proof of "once": nobody adds, edits or deletes it by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
