"""Admin pages for units, staff (users with their profile and roles) and duty rosters.

Supervisors may edit rosters, but only of their own unit's staff: the roster pages filter
their rows and their choice of person by the supervisor's unit. Administrators and
operations managers see every unit.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from yunbao.org.models import Role, RosterException, Shift, StaffProfile, Unit
from yunbao.org.roles import roles_of, unit_of

User = get_user_model()

# Roles that manage every unit's rosters; anyone else with roster permissions (supervisors)
# is limited to their own unit.
ALL_UNITS_ROLES = frozenset({Role.ADMIN, Role.MANAGER})


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "kind", "leader", "phone", "active")
    list_filter = ("kind", "active")
    search_fields = ("code", "name", "name_en", "phone")
    filter_horizontal = ("areas",)
    raw_id_fields = ("leader",)
    list_select_related = ("leader",)


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "unit", "phone")
    list_filter = ("unit", "user__groups", "user__is_active")
    search_fields = ("user__username", "display_name", "phone", "unit__name")
    filter_horizontal = ("areas",)
    raw_id_fields = ("user",)
    list_select_related = ("user", "unit")


def _own_unit_only(request: HttpRequest) -> bool:
    user = request.user
    return not (getattr(user, "is_superuser", False) or roles_of(user) & ALL_UNITS_ROLES)


class _RosterAdmin(admin.ModelAdmin):
    """Shared by the roster pages: person choices and rows limited by unit for supervisors."""

    list_select_related = ("user", "user__profile")
    search_fields: ClassVar[tuple[str, ...]] = ("user__username", "user__profile__display_name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if _own_unit_only(request):
            unit = unit_of(request.user)
            queryset = queryset.filter(user__profile__unit=unit) if unit else queryset.none()
        return queryset

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Model] | None:
        if db_field.name == "user":
            people = User._default_manager.filter(is_active=True, profile__isnull=False).order_by(
                "username"
            )
            if _own_unit_only(request):
                unit = unit_of(request.user)
                people = people.filter(profile__unit=unit) if unit else people.none()
            kwargs["queryset"] = people
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Shift)
class ShiftAdmin(_RosterAdmin):
    list_display = ("user", "weekday", "start", "end", "is_overnight")
    list_filter = ("weekday", "user__profile__unit")
    ordering = ("user__username", "weekday", "start")

    @admin.display(description=_("overnight"), boolean=True)
    def is_overnight(self, obj: Shift) -> bool:
        return obj.overnight


@admin.register(RosterException)
class RosterExceptionAdmin(_RosterAdmin):
    list_display = ("user", "date", "kind", "start", "end", "note")
    list_filter = ("kind", "user__profile__unit")
    date_hierarchy = "date"
    search_fields = (*_RosterAdmin.search_fields, "note")


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    fk_name = "user"
    can_delete = False
    filter_horizontal = ("areas",)
    verbose_name = _("staff profile")
    verbose_name_plural = _("staff profile (unit and service areas)")


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """Django's user admin plus the staff profile; roles are the groups of the user."""

    inlines = (StaffProfileInline,)
    list_display = (
        "username",
        "display_name",
        "unit",
        "roles",
        "is_active",
        "is_staff",
    )
    list_filter = ("groups", "is_active", "is_staff", "is_superuser", "profile__unit")
    search_fields = (*UserAdmin.search_fields, "profile__display_name", "profile__phone")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # One query for the list's profile and unit columns, one for every row's groups.
        return (
            super().get_queryset(request).select_related("profile__unit").prefetch_related("groups")
        )

    @admin.display(description=_("display name"))
    def display_name(self, obj: Any) -> str:
        profile = _profile(obj)
        return profile.display_name if profile else ""

    @admin.display(description=_("unit"), ordering="profile__unit__name")
    def unit(self, obj: Any) -> str:
        profile = _profile(obj)
        return str(profile.unit) if profile and profile.unit else ""

    @admin.display(description=_("roles"))
    def roles(self, obj: Any) -> str:
        names = {group.name for group in obj.groups.all()}
        return ", ".join(str(role.label) for role in Role if role.value in names)


def _profile(user: Any) -> StaffProfile | None:
    try:
        profile: StaffProfile = user.profile
    except ObjectDoesNotExist:
        return None
    return profile
