"""The input of each field action, validated before any move is tried.

One form per page role; each action reads the fields it needs (`NEEDS`) and a missing one is
a field error the phone shows beside the input. The verbs in `workorders.actions` check the
rest (reasons, coordinates in range, the after-photo, the state machine).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from yunbao.workorders.models import RequestKind

# The worker's actions on the task page, and the supervisor's on the check page.
WORKER_ACTIONS = ("start", "arrive", "finish", "return", "request")
CHECK_ACTIONS = ("verify", "rework", "approve", "refuse")
REPORTER_ACTIONS = ("rate", "reopen")


class ActionForm(forms.Form):
    key = forms.CharField(max_length=64)
    note = forms.CharField(required=False, max_length=2000)
    lat = forms.FloatField(required=False)
    lon = forms.FloatField(required=False)
    accuracy = forms.FloatField(required=False, min_value=0)
    kind = forms.ChoiceField(required=False, choices=RequestKind.choices)
    until = forms.DateTimeField(required=False)
    rating = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(i, str(i)) for i in range(1, 6)], empty_value=None
    )

    NEEDS: dict[str, tuple[str, ...]] = {
        "arrive": ("lat", "lon"),
        "finish": ("note",),
        "return": ("note",),
        "request": ("kind", "note"),
        "rework": ("note",),
        "refuse": ("note",),
        "reopen": ("note",),
        "rate": ("rating",),
    }
    MESSAGES: dict[str, Any] = {
        "lat": _("Your position is needed; allow this page to use your location."),
        "lon": _("Your position is needed; allow this page to use your location."),
        "note": _("A reason or note is required."),
        "kind": _("Choose what you are asking for."),
        "rating": _("Choose from 1 to 5 stars."),
        "until": _("Say until when you need more time."),
    }

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.action = action

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = list(self.NEEDS.get(self.action, ()))
        if self.action == "request" and data.get("kind") == RequestKind.EXTENSION:
            needed.append("until")
        for name in needed:
            if name not in self.errors and data.get(name) in (None, ""):
                self.add_error(name, self.MESSAGES[name])
        return data

    def first_error(self) -> str:
        for errors in self.errors.values():
            for error in errors:
                return str(error)
        return ""
