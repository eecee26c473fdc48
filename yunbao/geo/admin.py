"""Admin pages for areas; every save and delete goes through `yunbao.geo.actions`.

The form checks the geometry and the parent's level with the same rules as the actions, so
mistakes show up as form errors rather than failed saves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from yunbao.geo.actions import UNSET, create_area, delete_area, update_area
from yunbao.geo.actions import check_parent as check_parent_level
from yunbao.geo.geometry import GeoError, parse_geometry
from yunbao.geo.models import Area

if TYPE_CHECKING:
    _AreaForm = forms.ModelForm[Area]
    _AreaAdminBase = admin.ModelAdmin[Area]
else:
    # Django's classes are generic only in the type stubs, not at run time.
    _AreaForm = forms.ModelForm
    _AreaAdminBase = admin.ModelAdmin


class AreaAdminForm(_AreaForm):
    class Meta:
        model = Area
        fields = ["level", "code", "name", "name_en", "parent", "geometry", "jurisdiction_id"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        geometry = data.get("geometry")
        if geometry is not None:
            try:
                parse_geometry(geometry)
            except GeoError as exc:
                self.add_error("geometry", str(exc))
        level = data.get("level") or (self.instance.level if self.instance.pk else None)
        if level:
            try:
                check_parent_level(level, data.get("parent"))
            except GeoError as exc:
                self.add_error("parent" if "parent" in self.fields else None, str(exc))
        return data


@admin.register(Area)
class AreaAdmin(_AreaAdminBase):
    form = AreaAdminForm
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name", "name_en"]
    raw_id_fields = ["parent"]
    list_select_related = ["parent"]
    readonly_fields = ["path", "bounding_box", "centre", "updated_at"]

    @admin.display(description=_("bounding box (south, west, north, east)"))
    def bounding_box(self, obj: Area) -> str:
        return f"{obj.min_lat:.6f}, {obj.min_lon:.6f}, {obj.max_lat:.6f}, {obj.max_lon:.6f}"

    @admin.display(description=_("centre (latitude, longitude)"))
    def centre(self, obj: Area) -> str:
        return f"{obj.center_lat:.6f}, {obj.center_lon:.6f}"

    def get_readonly_fields(self, request: HttpRequest, obj: Area | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The level decides the whole hierarchy below; change it by re-creating the area.
            fields.insert(0, "level")
        return fields

    def save_model(self, request: HttpRequest, obj: Area, form: forms.Form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changed = set(form.changed_data)
            update_area(
                obj,
                code=data["code"] if "code" in changed else None,
                name=data["name"] if "name" in changed else None,
                name_en=data["name_en"] if "name_en" in changed else None,
                jurisdiction_id=data["jurisdiction_id"] if "jurisdiction_id" in changed else None,
                geometry=data["geometry"] if "geometry" in changed else None,
                parent=data["parent"] if "parent" in changed else UNSET,
                actor=request.user,
            )
            return
        created = create_area(
            level=data["level"],
            code=data["code"],
            name=data["name"],
            name_en=data.get("name_en", ""),
            parent=data.get("parent"),
            geometry=data["geometry"],
            jurisdiction_id=data.get("jurisdiction_id", ""),
            actor=request.user,
        )
        # The admin goes on with `obj` (log entry, redirect): give it the saved state.
        for field in Area._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def delete_model(self, request: HttpRequest, obj: Area) -> None:
        delete_area(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Area]) -> None:
        with transaction.atomic():
            # Deepest first, so children go before their parents.
            for area in queryset.order_by("-path"):
                delete_area(area, actor=request.user)
