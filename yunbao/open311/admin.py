"""Admin pages for Open311: jurisdictions, service attributes, API clients and what came in.

An API key is made when a client is added (or by the "new key" action) and shown once, in
the page's message; only its prefix and hash are stored, so a lost key is replaced, never
recovered.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from yunbao.lib import apikeys
from yunbao.open311.actions import KEY_NAMESPACE, rotate_key
from yunbao.open311.models import (
    ApiClient,
    ClientUpdate,
    Jurisdiction,
    RequestDetails,
    ServiceAttribute,
)
from yunbao.workorders.models import WorkOrder


@admin.register(Jurisdiction)
class JurisdictionAdmin(admin.ModelAdmin):
    list_display = ("jurisdiction_id", "name", "area")
    search_fields = ("jurisdiction_id", "name")
    raw_id_fields = ("area",)


class ServiceAttributeForm(forms.ModelForm):
    class Meta:
        model = ServiceAttribute
        fields = (
            "category",
            "code",
            "variable",
            "datatype",
            "required",
            "order",
            "description",
            "description_en",
            "datatype_description",
            "datatype_description_en",
            "values",
        )
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "description_en": forms.Textarea(attrs={"rows": 2}),
        }


@admin.register(ServiceAttribute)
class ServiceAttributeAdmin(admin.ModelAdmin):
    form = ServiceAttributeForm
    list_display = ("category", "code", "datatype", "required", "variable", "order")
    list_filter = ("datatype", "required", "variable")
    search_fields = ("code", "description", "category__code", "category__name")
    raw_id_fields = ("category",)
    ordering = ("category__code", "order", "code")


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "contact", "key_prefix", "active", "created_at", "last_used_at")
    list_filter = ("active",)
    search_fields = ("name", "contact", "key_prefix")
    fields = ("name", "contact", "active", "key_prefix", "created_at", "last_used_at")
    readonly_fields = ("key_prefix", "created_at", "last_used_at")
    actions = ("new_key",)

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        plain = ""
        if not change:
            plain, obj.key_prefix, obj.key_hash = apikeys.new_key(KEY_NAMESPACE)
        super().save_model(request, obj, form, change)
        if plain:
            self._show_key(request, obj, plain)

    @admin.action(description=_("Make a new key (the old one stops working)"))
    def new_key(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            self._show_key(request, client, rotate_key(client))

    def _show_key(self, request: HttpRequest, client: ApiClient, plain: str) -> None:
        self.message_user(
            request,
            _("API key of “%(name)s”: %(key)s — copy it now, it is not shown again.")
            % {"name": client.name, "key": plain},
            messages.WARNING,
        )


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Only records of orders this person may see.
        visible = WorkOrder.objects.visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(order__in=visible)


@admin.register(RequestDetails)
class RequestDetailsAdmin(_ReadOnly):
    list_display = ("order", "client", "jurisdiction", "created_at")
    list_filter = ("client", "jurisdiction")
    search_fields = ("order__number",)
    exclude = ("digest",)


@admin.register(ClientUpdate)
class ClientUpdateAdmin(_ReadOnly):
    list_display = ("order", "client", "client_update_id", "status", "created_at")
    list_filter = ("client",)
    search_fields = ("order__number", "client_update_id")
