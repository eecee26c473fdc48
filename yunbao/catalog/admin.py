"""Admin pages for scenes, categories and their stage time limits."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import ManyToManyField, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Category, Scene, TimeLimit


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "sort")
    search_fields = ("code", "name", "name_en")
    ordering = ("sort", "code")


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    fields = ("stage", "urgency", "amount", "unit")
    extra = 0
    verbose_name = _("time limit")
    verbose_name_plural = _("time limits (stage × urgency)")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "kind", "default_urgency", "active")
    list_filter = ("kind", "scenes", "major_code", "active")
    search_fields = ("code", "name", "name_en", "keywords")
    ordering = ("kind", "code")
    inlines = (TimeLimitInline,)
    fieldsets = (
        (None, {"fields": ("code", "kind", "name", "name_en", "scenes", "active", "sort")}),
        (
            _("Standard classification"),
            {"fields": ("major_code", "major_name", "major_name_en", "minor_code")},
        ),
        (
            _("Reporting and recognition"),
            {"fields": ("default_urgency", "icon", "keywords")},
        ),
    )

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField | None:
        # A handful of scenes: tick boxes read better than a multi-select list.
        if db_field.name == "scenes":
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(TimeLimit)
class TimeLimitAdmin(admin.ModelAdmin):
    list_display = ("category", "stage", "urgency", "amount", "unit")
    list_filter = ("stage", "urgency", "unit", "category__kind")
    search_fields = ("category__code", "category__name", "category__name_en")
    autocomplete_fields = ("category",)
    ordering = ("category__code", "stage", "urgency")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TimeLimit]:
        # Every row's __str__ shows its category's code.
        return super().get_queryset(request).select_related("category")
