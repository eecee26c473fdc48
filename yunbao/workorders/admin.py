"""Admin pages for work orders: for looking and searching, never for changing state.

An order's state changes only through `yunbao.workorders.actions` (the order page's
buttons), so here every field is read-only and adding or deleting is refused; the list is
limited to what the administrator may see (`visible_to`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from yunbao.workorders.models import OrderRequest, Photo, TimelineEntry, WorkOrder


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TimelineInline(_ReadOnly, admin.TabularInline):
    model = TimelineEntry
    readonly_fields = fields = (
        "at",
        "move",
        "from_status",
        "to_status",
        "actor",
        "role",
        "on_time",
        "note",
    )
    extra = 0

    @admin.display(description=_("action"))
    def move(self, entry: TimelineEntry) -> Any:
        return entry.action_label


class PhotoInline(_ReadOnly, admin.TabularInline):
    model = Photo
    readonly_fields = fields = ("kind", "image", "taken_at", "lat", "lon", "created_at")
    extra = 0


class RequestInline(_ReadOnly, admin.TabularInline):
    model = OrderRequest
    readonly_fields = fields = (
        "kind",
        "status",
        "reason",
        "until",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
    )
    extra = 0


@admin.register(WorkOrder)
class WorkOrderAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = [
        "number",
        "status",
        "category",
        "urgency",
        "grid",
        "unit",
        "worker",
        "created_at",
        "page_link",
    ]
    list_filter = ["status", "source", "urgency", "scene", "unit", "created_at"]
    search_fields = ["number", "description", "address", "category__name", "category__code"]
    date_hierarchy = "created_at"
    list_select_related = ["category", "grid", "unit", "worker"]
    inlines = [TimelineInline, RequestInline, PhotoInline]
    show_full_result_count = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkOrder]:
        return WorkOrder.objects.visible_to(request.user)

    @admin.display(description=_("Order page"))
    def page_link(self, obj: WorkOrder) -> SafeString:
        return format_html(
            '<a href="{}">{}</a>', reverse("order-detail", args=[obj.number]), _("Open")
        )
