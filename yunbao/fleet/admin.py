"""Admin pages for devices, their position history and their latest positions.

Devices are edited here: kind, protocol identity (normalised as the gateway stores it: a
JT/T 808 terminal phone number without leading zeros, an OsmAnd id trimmed), vehicle type
and plate, unit and staff member, active. The auth code a JT/T 808 terminal authenticates
with is shown and can be regenerated (one device on its page, several with the list
action); a terminal still using the old code is then refused and must register again.

Scope follows `yunbao.org.admin`: administrators and operations managers see every device
(managers may add and change them; `org.permissions`); anyone else with fleet permissions
(supervisors, by role: view and change) sees their own unit's devices — by the device's
unit or its staff member's — and may give devices only to their unit and its people.

Positions are read-only and the table is big (a fix every few seconds per device, kept
for months), so its list never counts or sorts the whole table: it shows nothing until a
device is chosen (then one index range, newest first), can be narrowed to a local day,
and counts at most `CappedPaginator.CAP` rows of what it shows.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import ForeignKey, Model, Q, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Position, Protocol
from yunbao.fleet.models import new_auth_code as make_auth_code
from yunbao.fleet.partitions import day_bounds
from yunbao.org.admin import ALL_UNITS_ROLES
from yunbao.org.models import Unit
from yunbao.org.roles import roles_of, unit_of

log = logging.getLogger(__name__)
User = get_user_model()

# A JT/T 808 terminal phone number: BCD[6] (2013) or BCD[10] (2019), so up to 20 digits.
JT808_DIGITS = 20
# An OsmAnd id is sent in a URL; anything but visible characters is a typing mistake.
_OSMAND_ID = re.compile(r"^[^\s\x00-\x1f\x7f]{1,64}$")
# Devices offered by the positions list's device filter (the rest through the device list).
DEVICE_CHOICES = 200


def _all_units(request: HttpRequest) -> bool:
    user = request.user
    return bool(getattr(user, "is_superuser", False)) or bool(roles_of(user) & ALL_UNITS_ROLES)


def _own_unit(request: HttpRequest) -> Unit | None:
    return unit_of(request.user)


def scoped_devices(request: HttpRequest, queryset: QuerySet[Device]) -> QuerySet[Device]:
    """The devices this admin user may see (see the module's docstring)."""
    if _all_units(request):
        return queryset
    unit = _own_unit(request)
    if unit is None:
        return queryset.none()
    return queryset.filter(Q(unit=unit) | Q(staff__profile__unit=unit))


def normalise_identifier(protocol: str, raw: str) -> str:
    """The identity as stored (and as the gateway looks it up); ValidationError if bad."""
    value = raw.strip()
    if protocol == Protocol.JT808:
        value = value.replace(" ", "").replace("-", "")
        if not value.isascii() or not value.isdigit():
            raise forms.ValidationError(
                _("A JT/T 808 terminal phone number has digits only."), code="digits"
            )
        value = value.lstrip("0")
        if not value or len(value) > JT808_DIGITS:
            raise forms.ValidationError(
                _("A JT/T 808 terminal phone number has 1 to %(n)d digits (leading zeros apart).")
                % {"n": JT808_DIGITS},
                code="length",
            )
        return value
    if not _OSMAND_ID.match(value):
        raise forms.ValidationError(
            _("An OsmAnd device id is 1 to 64 characters without spaces."), code="osmand"
        )
    return value


class DeviceForm(forms.ModelForm):
    regenerate_auth_code = forms.BooleanField(
        label=_("Regenerate the auth code"),
        required=False,
        help_text=_(
            "A JT/T 808 terminal still using the old code is refused and must register again."
        ),
    )

    class Meta:
        model = Device
        fields = [
            "kind",
            "name",
            "protocol",
            "identifier",
            "vehicle_type",
            "plate",
            "unit",
            "staff",
            "active",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        protocol = data.get("protocol")
        if protocol and data.get("identifier") is not None:
            try:
                data["identifier"] = normalise_identifier(protocol, data["identifier"])
            except forms.ValidationError as exc:
                self.add_error("identifier", exc)
        if data.get("kind") == DeviceKind.BADGE:
            if data.get("vehicle_type"):
                self.add_error("vehicle_type", _("Only vehicles have a vehicle type."))
            if data.get("plate"):
                self.add_error("plate", _("Only vehicles have a plate."))
        if data.get("plate"):
            data["plate"] = data["plate"].strip().upper()
        return data


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    form = DeviceForm
    list_display = (
        "__str__",
        "kind",
        "vehicle_type",
        "protocol",
        "identifier",
        "unit",
        "staff",
        "plate",
        "active",
        "last_seen",
        "links",
    )
    list_filter = (
        "kind",
        "protocol",
        "vehicle_type",
        "active",
        "registered_automatically",
        "unit",
    )
    search_fields = (
        "name",
        "identifier",
        "plate",
        "staff__username",
        "staff__profile__display_name",
    )
    list_select_related = ("unit", "staff__profile", "latest")
    readonly_fields = (
        "auth_code",
        "registered_automatically",
        "details_text",
        "created_at",
        "last_seen",
        "links",
    )
    fieldsets = (
        (None, {"fields": ("kind", "name", "protocol", "identifier", "active")}),
        (_("Vehicle"), {"fields": ("vehicle_type", "plate")}),
        (_("Who it belongs to"), {"fields": ("unit", "staff")}),
        (
            _("Authentication"),
            {"fields": ("auth_code", "regenerate_auth_code")},
        ),
        (
            _("What the device told"),
            {
                "fields": (
                    "registered_automatically",
                    "details_text",
                    "created_at",
                    "last_seen",
                    "links",
                )
            },
        ),
    )
    actions = ("regenerate_auth_codes",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Device]:
        return scoped_devices(request, super().get_queryset(request))

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Model] | None:
        own = None if _all_units(request) else _own_unit(request)
        if db_field.name == "unit":
            units = Unit.objects.filter(active=True).order_by("code")
            if not _all_units(request):
                units = units.filter(pk=own.pk) if own else units.none()
                # A device given to no unit would leave this person's sight at once.
                kwargs["required"] = True
            kwargs["queryset"] = units
        elif db_field.name == "staff":
            people = User._default_manager.filter(is_active=True, profile__isnull=False)
            if not _all_units(request):
                people = people.filter(profile__unit=own) if own else people.none()
            kwargs["queryset"] = people.select_related("profile").order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Device, form: Any, change: bool) -> None:
        if form.cleaned_data.get("regenerate_auth_code"):
            obj.auth_code = make_auth_code()
            log.info("auth code of device %s regenerated by %s", obj.pk, request.user)
            messages.info(request, gettext("A new auth code was generated."))
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Regenerate the auth codes"), permissions=["change"])
    def regenerate_auth_codes(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        count = 0
        for device in queryset:
            device.auth_code = make_auth_code()
            # save(): the signals tell dispatch's position cache that devices changed.
            device.save(update_fields=["auth_code"])
            count += 1
        log.info("auth codes of %d devices regenerated by %s", count, request.user)
        self.message_user(
            request, gettext("New auth codes for %(n)d devices.") % {"n": count}, messages.SUCCESS
        )

    @admin.display(description=_("last seen"), ordering="latest__fixed_at")
    def last_seen(self, obj: Device) -> str:
        latest = _latest(obj)
        if latest is None:
            return gettext("never")
        return date_format(timezone.localtime(latest.fixed_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("details"))
    def details_text(self, obj: Device) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted((obj.details or {}).items())) or "—"

    @admin.display(description=_("history"))
    def links(self, obj: Device) -> str:
        if obj.pk is None:
            return "—"
        positions = reverse("admin:fleet_position_changelist") + f"?device={obj.pk}"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("fleet:track", args=[obj.pk]),
            gettext("track"),
            positions,
            gettext("positions"),
        )


def _latest(device: Device) -> LatestPosition | None:
    try:
        return device.latest
    except LatestPosition.DoesNotExist:
        return None


class CappedPaginator(Paginator):
    """Counts at most `CAP` rows: a bounded subquery instead of a count of the whole
    selection (narrow it with the day filter to reach older rows)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        return int(object_list[: self.CAP].count())


class DeviceFilter(admin.SimpleListFilter):
    """Required: positions are listed for one device at a time."""

    title = _("device")
    parameter_name = "device"

    def has_output(self) -> bool:
        # Always applied, even with no device to offer: never the whole table.
        return True

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        devices = scoped_devices(request, Device.objects.all())
        offered = list(devices.order_by("kind", "name", "identifier")[:DEVICE_CHOICES])
        chosen = self.value()
        if chosen and chosen.isdigit() and all(str(d.pk) != chosen for d in offered):
            offered.extend(devices.filter(pk=int(chosen)))
        return [(str(d.pk), f"{d} ({d.identifier})") for d in offered]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset.none()
        if not value.isdigit():
            log.info("positions admin: bad device %r from %s", value, request.user)
            raise IncorrectLookupParameters(f"bad device id {value!r}")
        return queryset.filter(device_id=int(value))


class DayFilter(admin.SimpleListFilter):
    """One local day (YYYY-MM-DD): one index range, one partition on PostgreSQL."""

    title = _("day")
    parameter_name = "day"
    days = 14

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        today = timezone.localdate()
        choices = []
        for back in range(self.days):
            day = today - dt.timedelta(days=back)
            choices.append((day.isoformat(), date_format(day, "SHORT_DATE_FORMAT")))
        chosen = self.value()
        if chosen and all(c[0] != chosen for c in choices):
            choices.append((chosen, chosen))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            log.info("positions admin: bad day %r from %s", value, request.user)
            raise IncorrectLookupParameters(f"bad day {value!r}") from None
        start, end = day_bounds(day)
        return queryset.filter(fixed_at__gte=start, fixed_at__lt=end)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Fixes are written by the gateway only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


FIX_FIELDS = (
    "fixed_at",
    "received_at",
    "lat",
    "lon",
    "speed",
    "course",
    "altitude",
    "accuracy",
    "valid",
    "alarm",
    "status",
    "battery",
    "mileage",
    "attributes",
)


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("fixed_at", "device", "lat", "lon", "speed", "course", "valid", "battery")
    list_filter = (DeviceFilter, DayFilter, "valid")
    list_select_related = ("device",)
    ordering = ("-fixed_at",)
    show_full_result_count = False
    paginator = CappedPaginator
    list_per_page = 100
    fields = ("device", *FIX_FIELDS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Position]:
        queryset = super().get_queryset(request)
        if _all_units(request):
            return queryset
        return queryset.filter(device__in=scoped_devices(request, Device.objects.all()))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not request.GET.get(DeviceFilter.parameter_name):
            messages.info(
                request,
                gettext(
                    "Choose a device (in the filter, or from the device list) to list its "
                    "positions; the day filter narrows them to one day."
                ),
            )
        return super().changelist_view(request, extra_context)


@admin.register(LatestPosition)
class LatestPositionAdmin(ReadOnlyAdmin):
    list_display = (
        "device",
        "kind",
        "unit",
        "fixed_at",
        "received_at",
        "lat",
        "lon",
        "speed",
        "valid",
        "battery",
    )
    list_filter = ("device__kind", "valid", "device__unit")
    search_fields = ("device__name", "device__identifier", "device__plate")
    list_select_related = ("device__unit",)
    ordering = ("-fixed_at",)
    date_hierarchy = "fixed_at"
    fields = ("device", *FIX_FIELDS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LatestPosition]:
        queryset = super().get_queryset(request)
        if _all_units(request):
            return queryset
        return queryset.filter(device__in=scoped_devices(request, Device.objects.all()))

    @admin.display(description=_("kind"), ordering="device__kind")
    def kind(self, obj: LatestPosition) -> str:
        return obj.device.get_kind_display()

    @admin.display(description=_("unit"), ordering="device__unit__name")
    def unit(self, obj: LatestPosition) -> str:
        return str(obj.device.unit) if obj.device.unit else ""
