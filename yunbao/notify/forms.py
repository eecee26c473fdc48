"""The preferences page's form for a new personal endpoint (email or webhook)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from yunbao.notify.actions import check_address
from yunbao.notify.models import Channel

# People add these themselves; group robots (WeCom, DingTalk) are set up by administrators.
PERSONAL_CHANNELS = [
    (Channel.EMAIL.value, Channel.EMAIL.label),
    (Channel.WEBHOOK.value, Channel.WEBHOOK.label),
]


class EndpointForm(forms.Form):
    kind = forms.ChoiceField(label=_("Channel"), choices=PERSONAL_CHANNELS)
    address = forms.CharField(
        label=_("Email address or https:// URL"),
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "url"}),
    )
    label = forms.CharField(label=_("Label (optional)"), max_length=100, required=False)
    secret = forms.CharField(
        label=_("Webhook secret (optional)"),
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to have one generated; it is shown once."),
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        kind, address = data.get("kind"), data.get("address")
        if isinstance(kind, str) and isinstance(address, str):
            try:
                data["address"] = check_address(kind, address)
            except ValidationError as exc:
                self.add_error("address", exc)
        return data
