"""The form behind every move button on the order page.

One form serves all moves: each move reads only the fields it needs, and `run_move` turns a
valid form into a call of the matching verb in `actions`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from yunbao.org.models import Role, Unit
from yunbao.workorders import actions
from yunbao.workorders.models import RequestStatus, TimelineEntry, WorkOrder


class MoveForm(forms.Form):
    note = forms.CharField(
        label=_("Note or reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    unit = forms.ModelChoiceField(
        label=_("Unit"), queryset=Unit.objects.filter(active=True), required=False
    )
    worker = forms.ModelChoiceField(
        label=_("Worker"),
        queryset=User.objects.filter(groups__name=Role.WORKER, is_active=True).order_by("username"),
        required=False,
    )
    until = forms.DateTimeField(
        label=_("New deadline"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    rating = forms.TypedChoiceField(
        label=_("Rating"),
        coerce=int,
        required=False,
        choices=[(i, "★" * i) for i in range(5, 0, -1)],
    )
    into = forms.CharField(label=_("Duplicate of order number"), required=False, max_length=24)

    NEEDS: dict[str, tuple[str, ...]] = {
        "dispatch": ("unit",),
        "assign": ("worker",),
        "extend": ("until",),
        "request_extension": ("until",),
        "rate": ("rating",),
        "merge": ("into",),
    }

    def __init__(self, *args: Any, action: str, order: WorkOrder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.action = action
        self.order = order
        if order.unit_id:
            worker_field = self.fields["worker"]
            assert isinstance(worker_field, forms.ModelChoiceField)
            worker_field.queryset = User.objects.filter(
                groups__name=Role.WORKER, is_active=True, profile__unit_id=order.unit_id
            ).order_by("username")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.NEEDS.get(self.action, ()):
            if data.get(name) in (None, ""):
                self.add_error(name, _("This field is required."))
        if self.action == "merge" and data.get("into"):
            target = WorkOrder.objects.filter(number=data["into"].strip()).first()
            if target is None:
                self.add_error("into", _("No order with that number."))
            data["into"] = target
        return data


def run_move(form: MoveForm, actor: User) -> TimelineEntry:
    """Call the verb for `form.action` with the form's data."""
    d, order, note = form.cleaned_data, form.order, form.cleaned_data.get("note") or ""
    match form.action:
        case "dispatch":
            return actions.dispatch(
                order, actor=actor, unit=d["unit"], worker=d.get("worker"), note=note
            )
        case "assign":
            return actions.assign(order, actor=actor, worker=d["worker"], note=note)
        case "extend":
            return actions.extend(order, actor=actor, until=d["until"], note=note)
        case "rate":
            return actions.rate(order, actor=actor, rating=d["rating"], comment=note)
        case "merge":
            return actions.merge(order, actor=actor, into=d["into"], note=note)
        case "return":
            return actions.return_order(order, actor=actor, note=note)
        # Moves whose verbs do more than the bare transition (a request row, the rework
        # count, the reopen window, an after-photo uploaded before): never the bare move.
        case "rework":
            return actions.rework(order, actor=actor, note=note)
        case "reopen":
            return actions.reopen(order, actor=actor, note=note)
        case "finish":
            return actions.finish(order, actor=actor, note=note)
        case "request_extension" | "request_suspension" | "request_void":
            return actions.request_change(
                order,
                actor=actor,
                kind=form.action.removeprefix("request_"),
                note=note,
                until=d.get("until"),
            )
        case "refuse":
            pending = order.requests.filter(status=RequestStatus.PENDING).first()
            if pending is None:
                raise actions.InvalidInput(
                    gettext("No request is waiting for a decision on this order.")
                )
            return actions.decide_request(pending, actor=actor, approve=False, note=note)
        case "arrive":
            # Arrival needs the phone's position: only the field task page can give it.
            raise actions.InvalidInput(gettext("Mark your arrival on the task page of your phone."))
        case _:
            return actions.transition(order, form.action, actor=actor, note=note)
