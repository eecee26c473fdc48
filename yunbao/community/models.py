"""What the community app keeps: activities, participants, sign-ups, photos and points.

- `Activity`: a volunteer activity (clean-up, free haircuts, lawn care, new-year couplets,
  teaching people to report) run by an organiser in one area, with its time, place,
  capacity and the secret its check-in QR code is signed with.
- `Participant`: a resident as the community app knows them — by account or by the phone's
  device token (`yunbao.intake.devices`), the same two keys intake uses for "my reports",
  so a volunteer's reports are theirs. Nickname and phone are private: only organisers of
  the activities they signed up for see them; the leaderboard shows nicknames only.
- `SignUp`: one participant at one activity, with check-in, check-out and service hours.
- `PointRule`, `Level`, `PointEntry`: the points (积分) ledger. Rules and levels are edited in
  the admin; entries are written by `yunbao.community.points` (reports and "me too"s, from
  the orders, in a periodic job) and by check-out (volunteer hours). Each entry's `key` is
  unique, so deriving them again adds nothing.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from yunbao.geo.models import Area


def new_checkin_key() -> str:
    return secrets.token_urlsafe(12)


class ActivityKind(models.TextChoices):
    CLEANUP = "cleanup", _("Clean-up")
    HAIRCUT = "haircut", _("Free haircuts")
    LAWN = "lawn", _("Lawn and green care")
    COUPLETS = "couplets", _("New-year couplets")
    TEACHING = "teaching", _("Learn to report by QR code")
    OTHER = "other", _("Other")


class ActivityStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


class ActivityQuerySet(models.QuerySet["Activity"]):
    def public(self) -> ActivityQuerySet:
        """What anyone may see: published and closed activities (not drafts, not cancelled)."""
        return self.filter(status__in=[ActivityStatus.PUBLISHED, ActivityStatus.CLOSED])

    def upcoming(self, now: object = None) -> ActivityQuerySet:
        return self.filter(status=ActivityStatus.PUBLISHED, ends_at__gte=now or timezone.now())

    def in_area(self, area: Area) -> ActivityQuerySet:
        return self.filter(area__path__startswith=area.path)


class Activity(models.Model):
    title = models.CharField(_("title"), max_length=100)
    kind = models.CharField(_("type"), max_length=16, choices=ActivityKind.choices)
    description = models.TextField(_("description"), max_length=4000, blank=True)
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        on_delete=models.PROTECT,
        related_name="activities",
        help_text=_("The village or community the activity is for."),
    )
    place = models.CharField(_("place"), max_length=200)
    lat = models.FloatField(_("latitude"))
    lon = models.FloatField(_("longitude"))
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(_("capacity"))
    cover = models.ImageField(_("cover photo"), upload_to="community/covers/", blank=True)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ActivityStatus.choices,
        default=ActivityStatus.DRAFT,
        db_index=True,
    )
    summary = models.TextField(_("summary"), max_length=4000, blank=True)
    organiser = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("organiser"),
        on_delete=models.PROTECT,
        related_name="organised_activities",
    )
    # Part of every check-in token: changing it invalidates printed check-in codes.
    checkin_key = models.CharField(_("check-in key"), max_length=32, default=new_checkin_key)
    checkin_radius_m = models.PositiveIntegerField(
        _("check-in radius (m)"),
        default=0,
        help_text=_("0: anywhere. Otherwise a self check-in must come from this close."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="activity_ends_after"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def is_open(self) -> bool:
        """Whether residents may sign up (published, not over)."""
        return self.status == ActivityStatus.PUBLISHED and self.ends_at > timezone.now()


class Participant(models.Model):
    """A resident taking part, known by account and/or by phone (device token)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="participant",
    )
    device = models.CharField(_("device token"), max_length=64, blank=True, db_index=True)
    nickname = models.CharField(_("nickname"), max_length=32, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(
                fields=["device"],
                condition=~models.Q(device=""),
                name="one_participant_per_device",
            )
        ]

    def __str__(self) -> str:
        return self.public_name

    @property
    def public_name(self) -> str:
        """What the public may read: the nickname, or an anonymous label."""
        return self.nickname or str(_("Resident %(number)s") % {"number": self.pk})


class SignUpStatus(models.TextChoices):
    SIGNED_UP = "signed_up", _("Signed up")
    CANCELLED = "cancelled", _("Cancelled")


class SignUp(models.Model):
    activity = models.ForeignKey(
        Activity, verbose_name=_("activity"), on_delete=models.CASCADE, related_name="signups"
    )
    participant = models.ForeignKey(
        Participant,
        verbose_name=_("participant"),
        on_delete=models.CASCADE,
        related_name="signups",
    )
    status = models.CharField(
        _("status"), max_length=12, choices=SignUpStatus.choices, default=SignUpStatus.SIGNED_UP
    )
    created_at = models.DateTimeField(_("signed up at"), auto_now_add=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("checked out at"), null=True, blank=True)
    # Who checked them in: None when the resident scanned the QR code themselves.
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("checked in by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    hours = models.DecimalField(
        _("service hours"), max_digits=5, decimal_places=2, default=Decimal(0)
    )

    class Meta:
        verbose_name = _("sign-up")
        verbose_name_plural = _("sign-ups")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "participant"], name="one_signup_each")
        ]

    def __str__(self) -> str:
        return f"{self.activity_id} · {self.participant_id}"


class ActivityPhoto(models.Model):
    activity = models.ForeignKey(
        Activity, verbose_name=_("activity"), on_delete=models.CASCADE, related_name="photos"
    )
    image = models.ImageField(_("image"), upload_to="community/photos/")
    thumbnail = models.ImageField(_("thumbnail"), upload_to="community/photos/", blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("activity photo")
        verbose_name_plural = _("activity photos")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.activity_id} photo {self.pk}"


class PointKind(models.TextChoices):
    REPORT = "report", _("Valid report")
    ME_TOO = "me_too", _("Confirmed “me too”")
    VOLUNTEER = "volunteer", _("Volunteer hour")


class PointRule(models.Model):
    """How many points one unit of a kind earns (a report, a "me too", an hour)."""

    kind = models.CharField(_("kind"), max_length=12, choices=PointKind.choices, unique=True)
    points = models.PositiveIntegerField(_("points"))
    daily_cap = models.PositiveIntegerField(
        _("daily cap"),
        default=0,
        help_text=_("Most points of this kind per person per day; 0: none."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("point rule")
        verbose_name_plural = _("point rules")
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.points}"


class Level(models.Model):
    name = models.CharField(_("name"), max_length=32)
    name_en = models.CharField(_("English name"), max_length=32, blank=True)
    min_points = models.PositiveIntegerField(_("from points"), unique=True)

    class Meta:
        verbose_name = _("level")
        verbose_name_plural = _("levels")
        ordering = ["min_points"]

    def __str__(self) -> str:
        if self.name_en and (get_language() or "").startswith("en"):
            return self.name_en
        return self.name


class PointEntry(models.Model):
    participant = models.ForeignKey(
        Participant,
        verbose_name=_("participant"),
        on_delete=models.CASCADE,
        related_name="points",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=PointKind.choices)
    # What earned it ("report:<order id>", "me_too:<id>", "volunteer:<sign-up id>"): unique,
    # so a second derivation of the same thing adds nothing.
    key = models.CharField(_("key"), max_length=64, unique=True)
    points = models.IntegerField(_("points"))
    # The local day it counts against the daily cap.
    day = models.DateField(_("day"), db_index=True)
    at = models.DateTimeField(_("time"))
    # The village it happened in, for the leaderboard per village.
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    order = models.ForeignKey(
        "workorders.WorkOrder",
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    activity = models.ForeignKey(
        Activity,
        verbose_name=_("activity"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    capped = models.BooleanField(_("cut by the daily cap"), default=False)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["participant", "day"])]

    def __str__(self) -> str:
        return f"{self.participant_id} {self.kind} {self.points:+d}"


class SyncState(models.Model):
    """Where the points job got to in the timeline (one row per name)."""

    name = models.CharField(max_length=32, primary_key=True)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("points sync state")
        verbose_name_plural = _("points sync states")

    def __str__(self) -> str:
        return f"{self.name} @ {self.at}"
