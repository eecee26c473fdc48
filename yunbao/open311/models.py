"""What Open311 keeps beside the catalogue and the orders.

- `Jurisdiction`: an Open311 `jurisdiction_id` and the root area (a district) it covers.
- `ServiceAttribute`: a category's extra questions (the service definition).
- `ApiClient`: a client application and its API key (only the key's hash is stored).
- `RequestDetails`: what an Open311 POST brought that a work order has no field for (the
  attribute answers, the client's `media_url`, e-mail, device and account ids); staff see
  it on the order page, Open311 output never shows the contact parts.
- `ClientUpdate`: a note a client posted to `servicerequestupdates` (see `yunbao.open311.
  actions.post_update` for why it is not a timeline row).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Category
from yunbao.geo.models import Area
from yunbao.lib.apikeys import PREFIX_MAX_LENGTH
from yunbao.workorders.models import WorkOrder


def _english() -> bool:
    return (get_language() or "").startswith("en")


class Jurisdiction(models.Model):
    jurisdiction_id = models.CharField(
        _("jurisdiction id"),
        max_length=100,
        unique=True,
        help_text=_("What clients send as jurisdiction_id, usually a domain (demo.yunbao.org)."),
    )
    name = models.CharField(_("name"), max_length=100)
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The district (or other area) whose orders this jurisdiction serves."),
    )

    class Meta:
        verbose_name = _("jurisdiction")
        verbose_name_plural = _("jurisdictions")
        ordering = ["jurisdiction_id"]

    def __str__(self) -> str:
        return self.jurisdiction_id


class Datatype(models.TextChoices):
    STRING = "string", _("Text (one line)")
    NUMBER = "number", _("Number")
    DATETIME = "datetime", _("Date and time")
    TEXT = "text", _("Text (several lines)")
    SINGLE = "singlevaluelist", _("One of a list")
    MULTI = "multivaluelist", _("Several of a list")


LIST_DATATYPES = (Datatype.SINGLE, Datatype.MULTI)


class ServiceAttribute(models.Model):
    """One question of a category's service definition, as GeoReport v2 describes it."""

    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.CASCADE,
        related_name="open311_attributes",
    )
    code = models.SlugField(
        _("code"), max_length=64, help_text=_("Sent by clients as attribute[code].")
    )
    variable = models.BooleanField(
        _("asks for an answer"),
        default=True,
        help_text=_("Off: the attribute is only information shown to the reporter."),
    )
    datatype = models.CharField(
        _("datatype"), max_length=16, choices=Datatype.choices, default=Datatype.STRING
    )
    required = models.BooleanField(_("required"), default=False)
    datatype_description = models.CharField(_("datatype description"), max_length=255, blank=True)
    datatype_description_en = models.CharField(
        _("datatype description (English)"), max_length=255, blank=True
    )
    order = models.PositiveSmallIntegerField(_("order"), default=1)
    description = models.TextField(_("question"))
    description_en = models.TextField(_("question (English)"), blank=True)
    values = models.JSONField(
        _("values"),
        default=list,
        blank=True,
        help_text=_(
            'For list datatypes: [{"key": "yes", "name": "是", "name_en": "Yes"}, …] '
            "(name_en optional)."
        ),
    )

    class Meta:
        verbose_name = _("service attribute")
        verbose_name_plural = _("service attributes")
        ordering = ["category", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["category", "code"], name="one_attribute_code")
        ]

    def __str__(self) -> str:
        return f"{self.category.code} {self.code}"

    def clean(self) -> None:
        problem = values_problem(self.datatype, self.values)
        if problem:
            raise ValidationError({"values": problem})

    @property
    def display_description(self) -> str:
        return self.description_en if self.description_en and _english() else self.description

    @property
    def display_datatype_description(self) -> str:
        if self.datatype_description_en and _english():
            return self.datatype_description_en
        return self.datatype_description

    def display_values(self) -> list[dict[str, str]]:
        english = _english()
        return [
            {
                "key": str(v["key"]),
                "name": str(v.get("name_en") or v["name"]) if english else str(v["name"]),
            }
            for v in self.values or []
        ]

    @property
    def keys(self) -> set[str]:
        return {str(v["key"]) for v in self.values or []}


def values_problem(datatype: str, values: Any) -> str:
    """Why `values` does not fit `datatype` ("" when it does)."""
    if datatype not in LIST_DATATYPES:
        return "" if not values else str(_("Only list datatypes have values."))
    if not isinstance(values, list) or not values:
        return str(_("A list datatype needs a list of values."))
    keys: set[str] = set()
    for value in values:
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("key"), str)
            or not value["key"].strip()
            or not isinstance(value.get("name"), str)
            or not value["name"].strip()
            or not isinstance(value.get("name_en", ""), str)
            or set(value) - {"key", "name", "name_en"}
        ):
            return str(_('Each value is {"key": "…", "name": "…"} with an optional "name_en".'))
        if value["key"] in keys:
            return str(_("The key “%(key)s” appears twice.") % {"key": value["key"]})
        keys.add(value["key"])
    return ""


class ApiClient(models.Model):
    """An application allowed to post to the Open311 API."""

    name = models.CharField(_("name"), max_length=100)
    contact = models.CharField(
        _("contact"), max_length=200, blank=True, help_text=_("Who runs it (name, e-mail).")
    )
    active = models.BooleanField(_("active"), default=True)
    key_prefix = models.CharField(
        _("key prefix"), max_length=PREFIX_MAX_LENGTH, unique=True, editable=False
    )
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RequestDetails(models.Model):
    """What an Open311 POST brought beyond the order's own fields."""

    order = models.OneToOneField(
        WorkOrder,
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="open311",
    )
    client = models.ForeignKey(
        ApiClient,
        verbose_name=_("API client"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        verbose_name=_("jurisdiction"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # {code: answer}; list answers are lists of keys, numbers numbers, datetimes ISO text.
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    # As the client sent it; never fetched (see actions.submit_request).
    media_url = models.URLField(_("media URL given"), max_length=2000, blank=True)
    address_string = models.CharField(_("address given"), max_length=255, blank=True)
    # Private contact details: staff only, never in Open311 output.
    email = models.EmailField(_("e-mail"), blank=True)
    device_id = models.CharField(_("device id"), max_length=100, blank=True)
    account_id = models.CharField(_("account id"), max_length=100, blank=True)
    # SHA-256 of the whole request: a replay with another body is refused.
    digest = models.CharField(_("request digest"), max_length=64)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("Open311 request")
        verbose_name_plural = _("Open311 requests")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.order)


class UpdateStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class ClientUpdate(models.Model):
    """A note posted by a client application to `servicerequestupdates`."""

    order = models.ForeignKey(
        WorkOrder,
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="open311_updates",
    )
    client = models.ForeignKey(
        ApiClient,
        verbose_name=_("API client"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="updates",
    )
    # The client's own id of the update, for replays ("" when it sent none).
    client_update_id = models.CharField(_("client's update id"), max_length=100, blank=True)
    # The status the client thinks the order has; recorded, never applied.
    status = models.CharField(
        _("status given"), max_length=8, choices=UpdateStatus.choices, blank=True
    )
    description = models.TextField(_("description"))
    media_url = models.URLField(_("media URL given"), max_length=2000, blank=True)
    updated_at = models.DateTimeField(_("time given"))
    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("Open311 update")
        verbose_name_plural = _("Open311 updates")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "client_update_id"],
                condition=~Q(client_update_id=""),
                name="one_update_per_client_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.client_update_id or self.pk}"

    @property
    def update_id(self) -> str:
        """The id Open311 shows: prefixed, so it never equals a timeline row's id."""
        return f"c{self.pk}"
