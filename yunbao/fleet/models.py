"""Devices and the positions they report.

A `Device` is a vehicle terminal or a badge/phone tracker, known by its protocol identity
(the JT/T 808 terminal phone number, or the OsmAnd `id`). `Position` holds every fix
received; on PostgreSQL it is partitioned by local day on `fixed_at` (see the migration
and `yunbao.fleet.partitions`), so a day's track reads one partition and old days are
dropped whole. `LatestPosition` keeps one row per device: the newest fix, for live maps,
coverage and the nearest-worker choice in dispatch.

Coordinates are WGS-84 degrees, as both protocols send them; speeds in km/h.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from yunbao.org.models import Unit


class DeviceKind(models.TextChoices):
    VEHICLE = "vehicle", _("Vehicle")
    BADGE = "badge", _("Staff badge or phone")


class VehicleType(models.TextChoices):
    SWEEPER = "sweeper", _("Road sweeper")
    GARBAGE_TRUCK = "garbage_truck", _("Garbage truck")
    WATER_TRUCK = "water_truck", _("Water truck")
    EBIKE = "ebike", _("E-bike / tricycle")
    PATROL_CAR = "patrol_car", _("Patrol car")
    OTHER = "other", _("Other vehicle")


class Protocol(models.TextChoices):
    JT808 = "jt808", _("JT/T 808 (TCP)")
    OSMAND = "osmand", _("OsmAnd (HTTP)")


def new_auth_code() -> str:
    """The code a JT/T 808 terminal gets on registering and sends to authenticate."""
    return secrets.token_hex(8)


class Device(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=DeviceKind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    protocol = models.CharField(_("protocol"), max_length=16, choices=Protocol.choices)
    # JT/T 808: the terminal phone number as its BCD digits without leading zeros;
    # OsmAnd: the `id` the tracker sends.
    identifier = models.CharField(_("identifier"), max_length=64)
    auth_code = models.CharField(_("auth code"), max_length=64, default=new_auth_code)
    vehicle_type = models.CharField(
        _("vehicle type"), max_length=16, choices=VehicleType.choices, blank=True
    )
    plate = models.CharField(_("plate"), max_length=16, blank=True)
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="devices",
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="devices",
    )
    active = models.BooleanField(_("active"), default=True)
    registered_automatically = models.BooleanField(_("registered automatically"), default=False)
    # What the terminal told about itself (maker, model, terminal id, IMEI, software…).
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["kind", "name", "identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "identifier"], name="fleet_device_unique_identity"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.plate or self.identifier


class FixFields(models.Model):
    """The fields of one fix, shared by the history and the latest position."""

    fixed_at = models.DateTimeField(_("fix time"))
    received_at = models.DateTimeField(_("received"))
    lat = models.FloatField(_("latitude"))
    lon = models.FloatField(_("longitude"))
    speed = models.FloatField(_("speed (km/h)"), null=True, blank=True)
    course = models.SmallIntegerField(_("course"), null=True, blank=True)
    altitude = models.FloatField(_("altitude (m)"), null=True, blank=True)
    accuracy = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    valid = models.BooleanField(_("valid fix"), default=True)
    # JT/T 808 alarm and status DWORDs (0 for OsmAnd).
    alarm = models.BigIntegerField(_("alarm bits"), default=0)
    status = models.BigIntegerField(_("status bits"), default=0)
    battery = models.FloatField(_("battery (%)"), null=True, blank=True)
    mileage = models.FloatField(_("odometer (km)"), null=True, blank=True)
    # Anything else the device sent (extra TLV items, OsmAnd attributes).
    attributes = models.JSONField(_("attributes"), null=True, blank=True)

    class Meta:
        abstract = True


class Position(FixFields):
    """Every fix received. Partitioned by local day on PostgreSQL (primary key (id,
    fixed_at) there, as partitioning requires); rows are written in batches by the gateway
    (`yunbao.fleet.store`), never one by one through the ORM."""

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="positions", db_index=False
    )

    class Meta:
        verbose_name = _("position")
        verbose_name_plural = _("positions")
        indexes = [models.Index(fields=["device", "fixed_at"], name="fleet_pos_device_time")]

    def __str__(self) -> str:
        return (
            f"{self.device_id} {self.fixed_at:%Y-%m-%d %H:%M:%S} ({self.lat:.6f}, {self.lon:.6f})"
        )


class LatestPosition(FixFields):
    """The newest fix of each device (by fix time, so late backfill never moves it back)."""

    device = models.OneToOneField(
        Device, on_delete=models.CASCADE, primary_key=True, related_name="latest"
    )

    class Meta:
        verbose_name = _("latest position")
        verbose_name_plural = _("latest positions")
        indexes = [models.Index(fields=["fixed_at"], name="fleet_latest_time")]

    def __str__(self) -> str:
        return (
            f"{self.device_id} {self.fixed_at:%Y-%m-%d %H:%M:%S} ({self.lat:.6f}, {self.lon:.6f})"
        )
