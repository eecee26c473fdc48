"""Units (责任单位), staff and their roles, and duty rosters.

Roles are Django groups (one per `Role` value, created by a migration) so permissions stay
Django's own; a staff member's unit and service areas live on `StaffProfile`.
Rosters are a weekly pattern of shifts per person plus dated exceptions; `yunbao.org.duty`
answers who is on duty.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from yunbao.geo.models import Area


class Role(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    INSPECTOR = "inspector", _("Inspector")
    DISPATCHER = "dispatcher", _("Dispatcher")
    WORKER = "worker", _("Field worker")
    SUPERVISOR = "supervisor", _("Supervisor")
    MANAGER = "manager", _("Operations manager")
    ORGANISER = "organiser", _("Community organiser")
    ADMIN = "admin", _("Administrator")


class UnitKind(models.TextChoices):
    SANITATION = "sanitation", _("Sanitation company")
    GREENING = "greening", _("Greening team")
    ENFORCEMENT = "enforcement", _("Urban-management squad")
    PROPERTY = "property", _("Property-management company")
    UTILITY = "utility", _("Utility company")
    OTHER = "other", _("Other")


class Unit(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("type"), max_length=16, choices=UnitKind.choices)
    areas = models.ManyToManyField(
        Area, verbose_name=_("service areas"), related_name="units", blank=True
    )
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("leader"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_units",
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["code"]

    def __str__(self) -> str:
        if self.name_en and (get_language() or "").startswith("en"):
            return self.name_en
        return self.name


class StaffProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="profile",
    )
    display_name = models.CharField(_("display name"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff",
    )
    areas = models.ManyToManyField(
        Area,
        verbose_name=_("areas"),
        blank=True,
        related_name="staff",
        help_text=_("Where this person works; they see orders in these areas and below."),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class Shift(models.Model):
    """One weekly shift of one person: on `weekday` from `start` to `end` (local time).

    An `end` at or before `start` means the shift runs past midnight into the next day.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff"),
        on_delete=models.CASCADE,
        related_name="shifts",
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        ordering = ["user", "weekday", "start"]

    def __str__(self) -> str:
        return f"{self.user} {self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


class RosterException(models.Model):
    """A dated change to the weekly pattern: a day off, or an extra shift."""

    class Kind(models.TextChoices):
        OFF = "off", _("Off (leave, holiday)")
        EXTRA = "extra", _("Extra shift")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff"),
        on_delete=models.CASCADE,
        related_name="roster_exceptions",
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    start = models.TimeField(_("start"), null=True, blank=True)
    end = models.TimeField(_("end"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("roster exception")
        verbose_name_plural = _("roster exceptions")
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"{self.user} {self.date} {self.get_kind_display()}"

    def clean(self) -> None:
        # An extra shift needs its hours; a day off either has none (the whole day's shifts)
        # or both (leave for part of the shifts that start on that date). See org.duty.
        if self.kind == self.Kind.EXTRA and (self.start is None or self.end is None):
            raise ValidationError(_("An extra shift needs a start and an end time."))
        if self.kind == self.Kind.OFF and (self.start is None) != (self.end is None):
            raise ValidationError(
                _("Give both a start and an end time for part of a day off, or neither.")
            )
