"""Admin of the community app: the points rules and levels are edited here; activities,
sign-ups and the points ledger are shown read-only (they change through the pages'
actions, which keep hours and points consistent)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from yunbao.community import actions
from yunbao.community.models import Activity, Level, PointEntry, PointRule, SignUp


@admin.register(PointRule)
class PointRuleAdmin(admin.ModelAdmin[PointRule]):
    list_display = ("kind", "points", "daily_cap", "active")
    list_editable = ("points", "daily_cap", "active")

    def save_model(self, request: HttpRequest, obj: PointRule, form: Any, change: bool) -> None:
        actions.save_point_rule(obj, actor=request.user)


@admin.register(Level)
class LevelAdmin(admin.ModelAdmin[Level]):
    list_display = ("name", "name_en", "min_points")

    def save_model(self, request: HttpRequest, obj: Level, form: Any, change: bool) -> None:
        actions.save_level(obj, actor=request.user)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Activity)
class ActivityAdmin(ReadOnly):
    list_display = ("title", "kind", "area", "starts_at", "status", "capacity", "organiser")
    list_filter = ("status", "kind")
    search_fields = ("title", "place", "area__name", "area__code")
    date_hierarchy = "starts_at"
    list_select_related = ("area", "organiser")
    exclude = ("checkin_key",)


@admin.register(SignUp)
class SignUpAdmin(ReadOnly):
    list_display = ("activity", "participant", "status", "checked_in_at", "checked_out_at", "hours")
    list_filter = ("status",)
    search_fields = ("activity__title", "participant__nickname")
    list_select_related = ("activity", "participant")


@admin.register(PointEntry)
class PointEntryAdmin(ReadOnly):
    list_display = ("at", "participant", "kind", "points", "capped", "area", "order")
    list_filter = ("kind", "capped")
    search_fields = ("participant__nickname", "order__number", "key")
    date_hierarchy = "at"
    list_select_related = ("participant", "area", "order")
