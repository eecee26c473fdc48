"""Admin pages for routing rules and automatic thresholds (edited), and decisions (read-only).

Rules and thresholds are saved through `yunbao.dispatch.actions`, which checks them and
makes this process route by them at once. Decisions are the machine's record and only
shown, limited to the orders the person may see.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from yunbao.dispatch import actions
from yunbao.dispatch.models import AutoThreshold, DispatchDecision, RoutingRule
from yunbao.workorders.models import WorkOrder


class RoutingRuleForm(forms.ModelForm):
    class Meta:
        model = RoutingRule
        fields = ["category", "category_group", "area", "unit", "active", "note"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        rule = RoutingRule(
            category=cleaned.get("category"),
            category_group=cleaned.get("category_group") or "",
        )
        try:
            actions.check_rule(rule)
        except forms.ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    form = RoutingRuleForm
    list_display = ("id", "category", "category_group", "area", "unit", "active", "note")
    list_filter = ("active", "unit", "area__level")
    search_fields = (
        "category__code",
        "category__name",
        "category__name_en",
        "category_group",
        "area__code",
        "area__name",
        "unit__code",
        "unit__name",
        "note",
    )
    raw_id_fields = ("area",)
    list_select_related = ("category", "area", "unit")

    def save_model(self, request: HttpRequest, obj: RoutingRule, form: Any, change: bool) -> None:
        actions.save_rule(obj, actor=request.user)


@admin.register(AutoThreshold)
class AutoThresholdAdmin(admin.ModelAdmin):
    list_display = ("category", "threshold", "enabled")
    list_filter = ("enabled",)
    search_fields = ("category__code", "category__name", "category__name_en")
    list_select_related = ("category",)

    def save_model(self, request: HttpRequest, obj: AutoThreshold, form: Any, change: bool) -> None:
        actions.save_threshold(obj, actor=request.user)


@admin.register(DispatchDecision)
class DispatchDecisionAdmin(admin.ModelAdmin):
    list_display = (
        "order",
        "category",
        "confidence_shown",
        "unit",
        "worker",
        "automatic",
        "model_version",
        "created_at",
    )
    list_filter = ("automatic", "unit", "created_at")
    search_fields = ("order__number",)
    list_select_related = ("order", "category", "unit", "worker")
    readonly_fields = (
        "order",
        "category",
        "confidence",
        "rule",
        "unit",
        "worker",
        "automatic",
        "reasons",
        "model_version",
        "created_at",
    )

    @admin.display(description=_("confidence"))
    def confidence_shown(self, obj: DispatchDecision) -> str:
        return f"{obj.confidence:.0%}"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DispatchDecision]:
        # Only decisions on orders this person may see.
        visible = WorkOrder.objects.visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(order__in=visible)
