"""Admin pages of notify: endpoints (secrets masked), preferences, and the delivery log.

Secrets are never shown in full: the secret field is write-only (left empty it keeps the
stored one), and robot URLs, whose query carries the robot's key, are shown with the
query values masked; submitting the masked URL unchanged keeps the stored one. Messages are
read-only apart from two actions, "send again" and "mark as sent" (for `unknown` ones).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from yunbao.notify import actions
from yunbao.notify.models import Channel, DeliveryAttempt, Endpoint, Message, Preference, mask


class EndpointForm(forms.ModelForm):
    secret = forms.CharField(
        label=_("secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "DingTalk's signing secret (SEC…) or the webhook's HMAC key. Leave empty to "
            "keep the stored secret."
        ),
    )

    class Meta:
        model = Endpoint
        fields = ["kind", "label", "address", "secret", "user", "unit", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_address = self.instance.address if self.instance.pk else ""
        self._stored_secret = self.instance.secret if self.instance.pk else ""
        if self.instance.pk and self.instance.kind != Channel.EMAIL:
            self.initial["address"] = self.instance.masked_address
        if self._stored_secret:
            self.fields["secret"].help_text = _("Stored: %(masked)s. Leave empty to keep it.") % {
                "masked": mask(self._stored_secret)
            }

    def clean_address(self) -> str:
        address: str = self.cleaned_data["address"].strip()
        if self.instance.pk and address == self.instance.masked_address:
            return self._stored_address  # the masked URL came back unchanged
        return address

    def clean_secret(self) -> str:
        secret: str = self.cleaned_data.get("secret", "").strip()
        return secret or self._stored_secret

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        probe = Endpoint(
            kind=data.get("kind") or "",
            address=data.get("address") or "",
            secret=data.get("secret") or "",
            user=data.get("user"),
            unit=data.get("unit"),
        )
        try:
            actions.check_endpoint(probe)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, errors)
                elif field not in self.fields:
                    self.add_error(None, errors)
        else:
            data["address"] = probe.address
        return data


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["kind", "label", "shown_address", "user", "unit", "active", "created_at"]
    list_filter = ["kind", "active", "from_account", "unit"]
    search_fields = ["label", "address", "user__username", "unit__name", "unit__code"]
    list_select_related = ["user", "unit"]
    raw_id_fields = ["user"]

    @admin.display(description=_("URL or email address"))
    def shown_address(self, endpoint: Endpoint) -> str:
        return endpoint.masked_address

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        actions.save_endpoint(obj)


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "event", "channel", "enabled"]
    list_filter = ["event", "channel", "enabled"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = readonly_fields = (
        "at",
        "outcome",
        "http_status",
        "duration_ms",
        "error",
        "response",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "event",
        "status",
        "endpoint_kind",
        "target",
        "recipient",
        "order",
        "attempts",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "event", "endpoint__kind", "created_at"]
    search_fields = [
        "dedupe_key",
        "subject",
        "order__number",
        "recipient__username",
        "endpoint__label",
        "=delivery_id",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["endpoint", "recipient", "order"]
    readonly_fields = (
        "event",
        "dedupe_key",
        "delivery_id",
        "target",
        "recipient",
        "order",
        "subject",
        "body",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_error",
        "created_at",
        "sent_at",
    )
    fields = readonly_fields
    inlines = [AttemptInline]
    actions = ["send_again", "confirm_sent"]
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The list's actions need change permission, but a message's page is view-only: a
        # saved form would write back a status the delivery worker may have moved on.
        return obj is None and request.user.has_perm("notify.change_message")

    def save_model(self, request: HttpRequest, obj: Message, form: Any, change: bool) -> None:
        pass  # never reached (view-only), and never allowed to overwrite delivery state

    @admin.display(description=_("channel"), ordering="endpoint__kind")
    def endpoint_kind(self, message: Message) -> str:
        return message.endpoint.get_kind_display()

    @admin.display(description=_("endpoint"))
    def target(self, message: Message) -> str:
        return str(message.endpoint)

    @admin.action(description=_("Send again"), permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = sum(actions.resend(m, actor=request.user) for m in queryset)  # type: ignore[arg-type]
        self.message_user(
            request,
            ngettext("%(count)d message queued again.", "%(count)d messages queued again.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Mark as sent (checked with the recipient)"), permissions=["change"]
    )
    def confirm_sent(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = sum(actions.mark_sent(m, actor=request.user) for m in queryset)  # type: ignore[arg-type]
        self.message_user(
            request,
            ngettext(
                "%(count)d message marked as sent.", "%(count)d messages marked as sent.", count
            )
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = [
        "at",
        "outcome",
        "http_status",
        "duration_ms",
        "message_event",
        "channel",
        "order",
        "short_error",
    ]
    list_filter = ["outcome", "message__endpoint__kind", "message__event", "at"]
    search_fields = ["error", "message__order__number", "=message__delivery_id"]
    date_hierarchy = "at"
    list_select_related = ["message__endpoint", "message__order"]
    readonly_fields = fields = (
        "message",
        "at",
        "outcome",
        "http_status",
        "duration_ms",
        "error",
        "response",
    )
    show_full_result_count = False

    @admin.display(description=_("event"))
    def message_event(self, attempt: DeliveryAttempt) -> str:
        return attempt.message.get_event_display()

    @admin.display(description=_("channel"))
    def channel(self, attempt: DeliveryAttempt) -> str:
        return attempt.message.endpoint.get_kind_display()

    @admin.display(description=_("order"))
    def order(self, attempt: DeliveryAttempt) -> Any:
        return attempt.message.order or "—"

    @admin.display(description=_("error"))
    def short_error(self, attempt: DeliveryAttempt) -> str:
        return attempt.error[:120]
