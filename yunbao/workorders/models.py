"""The work order, its timeline and photos.

Every change of an order goes through `yunbao.workorders.actions`; the timeline rows they
write are at once the audit log, the SLA clock and the trigger for notifications.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Category, Scene, Stage, Urgency
from yunbao.geo.models import Area
from yunbao.org.models import Unit

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Status(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ACCEPTED = "accepted", _("Accepted")
    DISPATCHED = "dispatched", _("Dispatched")
    IN_PROGRESS = "in_progress", _("In progress")
    HANDLED = "handled", _("Handled")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected")
    MERGED = "merged", _("Merged")
    SUSPENDED = "suspended", _("Suspended")
    VOIDED = "voided", _("Voided")


OPEN_STATUSES = (
    Status.SUBMITTED,
    Status.ACCEPTED,
    Status.DISPATCHED,
    Status.IN_PROGRESS,
    Status.HANDLED,
    Status.SUSPENDED,
)
FINAL_STATUSES = (Status.CLOSED, Status.REJECTED, Status.MERGED, Status.VOIDED)


class Source(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    INSPECTOR = "inspector", _("Inspector")
    HOTLINE = "hotline", _("Hotline 12345")
    OPEN311 = "open311", _("Open311")
    IMPORT = "import", _("Imported")
    SYSTEM = "system", _("System")


class WorkOrderQuerySet(models.QuerySet["WorkOrder"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> WorkOrderQuerySet:
        """Orders this user may see; the single place where read permission is decided."""
        from yunbao.workorders.access import visibility_filter

        condition = visibility_filter(user)
        if condition is None:
            return self.none()
        return self.filter(condition)

    def open(self) -> WorkOrderQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def in_area(self, area: Area) -> WorkOrderQuerySet:
        return self.filter(area_path__startswith=area.path)

    def overdue(self, now: datetime | None = None) -> WorkOrderQuerySet:
        """Open orders whose running stage is past its deadline."""
        now = now or timezone.now()
        return self.filter(paused_at__isnull=True).filter(
            Q(status=Status.SUBMITTED, accept_due__lt=now)
            | Q(status=Status.ACCEPTED, dispatch_due__lt=now)
            | Q(status__in=[Status.DISPATCHED, Status.IN_PROGRESS], handle_due__lt=now)
            | Q(status=Status.HANDLED, check_due__lt=now)
        )


class WorkOrder(models.Model):
    number = models.CharField(_("number"), max_length=24, unique=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.SUBMITTED
    )
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.RESIDENT
    )
    scene = models.ForeignKey(
        Scene, verbose_name=_("scene"), null=True, blank=True, on_delete=models.PROTECT
    )
    category = models.ForeignKey(
        Category, verbose_name=_("category"), null=True, blank=True, on_delete=models.PROTECT
    )
    urgency = models.CharField(
        _("urgency"), max_length=16, choices=Urgency.choices, default=Urgency.NORMAL
    )
    description = models.TextField(_("description"), blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)

    # Position, WGS-84.
    lat = models.FloatField(_("latitude"))
    lon = models.FloatField(_("longitude"))
    h3_cell = models.CharField(_("H3 cell"), max_length=16, db_index=True, blank=True)
    grid = models.ForeignKey(
        Area,
        verbose_name=_("grid"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    # The grid's path, copied so "orders in this street" is an indexed prefix match.
    area_path = models.CharField(
        _("area path"), max_length=255, db_index=True, blank=True, editable=False
    )

    # Who reported it. Name and phone are private: staff only, never public output.
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reporter"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_orders",
    )
    reporter_name = models.CharField(_("reporter's nickname"), max_length=64, blank=True)
    reporter_phone = models.CharField(_("reporter's phone"), max_length=32, blank=True)

    # Who is responsible.
    # No index of their own: (unit, status) and (worker, status) below serve a lookup by
    # unit or worker alone, and every report writes one index page fewer per index.
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("responsible unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("worker"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_orders",
        db_index=False,
    )
    duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("duplicate of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
    )
    # Where a suspended order resumes, and since when its clock is paused.
    suspended_from = models.CharField(
        _("suspended from"), max_length=16, choices=Status.choices, blank=True
    )
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    # Since when the running stage's clock is paused while an extension request waits for
    # its approver (the worker should not be punished for the approver's delay).
    paused_at = models.DateTimeField(_("clock paused at"), null=True, blank=True)

    # When each stage was reached (the latest time, after rework).
    created_at = models.DateTimeField(_("reported at"), db_index=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # Deadline of each stage, set when the stage starts.
    accept_due = models.DateTimeField(_("accept by"), null=True, blank=True)
    dispatch_due = models.DateTimeField(_("dispatch by"), null=True, blank=True)
    handle_due = models.DateTimeField(_("handle by"), null=True, blank=True)
    check_due = models.DateTimeField(_("check by"), null=True, blank=True)
    # When the running stage becomes "due soon": SLA_WARN_SHARE of its limit, counted in the
    # limit's own time (working hours skip nights and holidays), moved with its deadline.
    warn_at = models.DateTimeField(_("warn at"), null=True, blank=True)

    rework_count = models.PositiveSmallIntegerField(_("reworks"), default=0)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.TextField(_("rating comment"), blank=True)

    objects = WorkOrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["unit", "status"]),
            models.Index(fields=["worker", "status"]),
            # Duplicate and nearby searches box the point by latitude first.
            models.Index(fields=["lat", "lon"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lat__gte=-90, lat__lte=90, lon__gte=-180, lon__lte=180),
                name="order_coordinates_in_range",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="order_rating_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def due_for(self, stage: str) -> Any:
        return getattr(self, f"{stage}_due")

    @property
    def current_stage(self) -> str | None:
        """The stage whose clock is running now, if any."""
        return STAGE_OF_STATUS.get(self.status)

    @property
    def current_due(self) -> Any:
        stage = self.current_stage
        return self.due_for(stage) if stage else None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


# Which stage's clock runs while an order is in a status.
STAGE_OF_STATUS: dict[str, str] = {
    Status.SUBMITTED: Stage.ACCEPT,
    Status.ACCEPTED: Stage.DISPATCH,
    Status.DISPATCHED: Stage.HANDLE,
    Status.IN_PROGRESS: Stage.HANDLE,
    Status.HANDLED: Stage.CHECK,
}


class TimelineEntry(models.Model):
    # Indexed by (order, at) below, which serves a lookup by order alone too.
    order = models.ForeignKey(
        WorkOrder,
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="timeline",
        db_index=False,
    )
    action = models.CharField(_("action"), max_length=24)
    # Blank on the first row, which creates the order.
    from_status = models.CharField(_("from"), max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=16, choices=Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The role the actor acted in ("system" for the machine's own decisions).
    role = models.CharField(_("role"), max_length=16)
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("time"), db_index=True)
    # Whether the stage this move ends was finished within its deadline (None: no clock).
    on_time = models.BooleanField(_("on time"), null=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["order", "at"]), models.Index(fields=["action", "at"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.action} {self.from_status}→{self.to_status}"

    @property
    def action_label(self) -> Any:
        # Imported here: transitions imports this module.
        from yunbao.workorders.transitions import TRANSITIONS

        if self.action == "submit":
            return _("Reported")
        transition = TRANSITIONS.get(self.action)
        return transition.label if transition else self.action


class PhotoKind(models.TextChoices):
    BEFORE = "before", _("Before")
    AFTER = "after", _("After")


def photo_path(instance: Photo, filename: str) -> str:
    # By month, not by order: intake stores the files before the order row exists, so the
    # database's write lock is never held while bytes go to disk or object storage.
    now = timezone.now()
    return f"photos/{now:%Y/%m}/{filename}"


class Photo(models.Model):
    order = models.ForeignKey(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="photos"
    )
    entry = models.ForeignKey(
        TimelineEntry,
        verbose_name=_("timeline entry"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="photos",
    )
    kind = models.CharField(_("kind"), max_length=8, choices=PhotoKind.choices)
    image = models.ImageField(_("image"), upload_to=photo_path)
    thumbnail = models.ImageField(_("thumbnail"), upload_to=photo_path, blank=True)
    width = models.PositiveIntegerField(_("width"), default=0)
    height = models.PositiveIntegerField(_("height"), default=0)
    taken_at = models.DateTimeField(_("taken at"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"

    @property
    def is_old(self) -> bool:
        """Taken well before the order was reported (per its EXIF time): worth a look."""
        if self.taken_at is None:
            return False
        limit = timedelta(days=settings.YUNBAO_PHOTO_OLD_DAYS)
        return self.order.created_at - self.taken_at > limit


class RequestKind(models.TextChoices):
    EXTENSION = "extension", _("Extension (延期)")
    SUSPENSION = "suspension", _("Suspension (挂账)")
    VOID = "void", _("Void (作废)")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")


class OrderRequest(models.Model):
    """A worker's (or dispatcher's) request for an extension, a suspension or a void, which
    a supervisor or manager approves or refuses. At most one waits per order."""

    order = models.ForeignKey(
        WorkOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="requests"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=RequestKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    reason = models.TextField(_("reason"))
    # Extensions only: the deadline asked for.
    until = models.DateTimeField(_("until"), null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("request")
        verbose_name_plural = _("requests")
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status="pending"),
                name="one_pending_request_per_order",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.status}"
