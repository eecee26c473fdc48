"""Admin pages of the REST API: API tokens (read-only, revocable) and webhook subscriptions.

Tokens are made by their owners (`POST /api/v1/tokens` from a logged-in browser), so the
admin only lists them and revokes them; the stored hash is never shown. A subscription is
saved through `yunbao.api.webhooks` like the API does; its secret is write-only: left empty
on a new subscription the server makes one and shows it once, in the page's message;
left empty on an existing one it keeps the stored secret.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from yunbao.api import tokens, webhooks
from yunbao.api.models import ApiToken, WebhookEvent, WebhookSubscription
from yunbao.notify.models import mask


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "expires_at", "state"]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user"]
    fields = readonly_fields = (
        "user",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key is shown to its owner only, when they make it

    @admin.display(description=_("state"))
    def state(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return str(_("revoked"))
        return str(_("active")) if token.usable(timezone.now()) else str(_("expired"))

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = sum(tokens.revoke_token(t, actor=request.user) for t in queryset)  # type: ignore[arg-type]
        self.message_user(
            request,
            ngettext("%(n)d token revoked.", "%(n)d tokens revoked.", count) % {"n": count},
            messages.SUCCESS,
        )


class WebhookForm(forms.ModelForm):
    url = forms.CharField(label=_("URL"), max_length=500)
    events = forms.MultipleChoiceField(
        label=_("events"), choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )
    secret = forms.CharField(
        label=_("secret"),
        required=False,
        min_length=16,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("The HMAC key. Leave empty: a new subscription gets a generated one."),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["client", "url", "events", "area", "active", "secret"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["url"] = self.instance.endpoint.address
            self.initial["events"] = list(self.instance.events)
            self.fields["secret"].help_text = _(
                "Stored: %(masked)s. Leave empty to keep it; type a new one to replace it."
            ) % {"masked": mask(self.instance.endpoint.secret)}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            webhooks.validate(
                client=data.get("client") or "",
                url=data.get("url") or "",
                events=data.get("events") or [],
            )
        except webhooks.WebhookError as exc:
            for field, message in exc.errors.items():
                if field not in self.errors:
                    self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["client", "shown_url", "shown_events", "area", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["client", "endpoint__address"]
    list_select_related = ["endpoint", "area"]
    raw_id_fields = ["area"]

    @admin.display(description=_("URL"))
    def shown_url(self, sub: WebhookSubscription) -> str:
        return sub.endpoint.masked_address

    @admin.display(description=_("events"))
    def shown_events(self, sub: WebhookSubscription) -> str:
        return ", ".join(str(WebhookEvent(e).label) for e in sub.events if e in WebhookEvent)

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        try:
            if change:
                webhooks.update_subscription(
                    obj,
                    actor=request.user,  # type: ignore[arg-type]
                    client=data["client"],
                    url=data["url"],
                    events=data["events"],
                    area=data.get("area"),
                    active=data["active"],
                )
                if data.get("secret"):
                    type(obj.endpoint).objects.filter(pk=obj.endpoint_id).update(
                        secret=data["secret"]
                    )
            else:
                created, secret = webhooks.create_subscription(
                    actor=request.user,  # type: ignore[arg-type]
                    client=data["client"],
                    url=data["url"],
                    events=data["events"],
                    area=data.get("area"),
                    secret=data.get("secret") or "",
                    active=data["active"],
                )
                obj.pk = created.pk
                obj.endpoint = created.endpoint
                if not data.get("secret"):
                    self.message_user(
                        request,
                        _("The secret of this subscription (shown only now): %(secret)s")
                        % {"secret": secret},
                        messages.WARNING,
                    )
        except webhooks.WebhookError as exc:
            for message in exc.errors.values():
                self.message_user(request, message, messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        webhooks.delete_subscription(obj, actor=request.user)  # type: ignore[arg-type]

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]
    ) -> None:
        for sub in queryset.select_related("endpoint"):
            webhooks.delete_subscription(sub, actor=request.user)  # type: ignore[arg-type]
