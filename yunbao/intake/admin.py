"""Admin pages for intake records: read-only, for looking up where a report came from."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from yunbao.intake.models import DuplicateSuggestion, MeToo, Submission
from yunbao.workorders.models import WorkOrder


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Only records of orders this person may see.
        visible = WorkOrder.objects.visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(order__in=visible)


@admin.register(Submission)
class SubmissionAdmin(_ReadOnly):
    list_display = ["order", "location_source", "created_at"]
    list_filter = ["location_source", "created_at"]
    search_fields = ["order__number", "key"]
    exclude = ["digest", "device", "tracking_token"]


@admin.register(DuplicateSuggestion)
class DuplicateSuggestionAdmin(_ReadOnly):
    list_display = ["order", "candidate", "score", "distance_m", "text_similarity", "created_at"]
    search_fields = ["order__number", "candidate__number"]


@admin.register(MeToo)
class MeTooAdmin(_ReadOnly):
    list_display = ["order", "created_at"]
    search_fields = ["order__number"]
    exclude = ["device"]
