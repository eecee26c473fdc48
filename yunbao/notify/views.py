"""The preferences page: which events reach a person through which channel, and their own
endpoints (email, webhook). Login required; a person sees and changes only their own."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from yunbao.notify import actions
from yunbao.notify.forms import EndpointForm
from yunbao.notify.models import Channel, Endpoint, EventKind


def _channels(user: Any) -> list[tuple[str, str]]:
    """The channels the person can receive through: those of their active endpoints, and
    email when the channel is on and the account has an address."""
    kinds = set(Endpoint.objects.filter(user=user).values_list("kind", flat=True))
    if settings.YUNBAO_NOTIFY_EMAIL and user.email:
        kinds.add(Channel.EMAIL)
    if not settings.YUNBAO_NOTIFY_EMAIL:
        kinds.discard(Channel.EMAIL)
    return [(value, str(label)) for value, label in Channel.choices if value in kinds]


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = EndpointForm()
    if request.method == "POST":
        what = request.POST.get("do", "")
        if what == "preferences":
            actions.set_preferences(
                user,
                {
                    (event, channel): f"p:{event}:{channel}" in request.POST
                    for event in EventKind.values
                    for channel, _label in _channels(user)
                },
            )
            messages.success(request, _("Your choices are saved."))
            return redirect("notify:preferences")
        if what == "add":
            form = EndpointForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                endpoint = actions.create_endpoint(
                    actor=user,
                    kind=data["kind"],
                    address=data["address"],
                    secret=data["secret"],
                    label=data["label"],
                )
                if endpoint.kind == Channel.WEBHOOK and not data["secret"]:
                    messages.info(
                        request,
                        _("Webhook secret (copy it now, it is not shown again): %(secret)s")
                        % {"secret": endpoint.secret},
                    )
                messages.success(request, _("Endpoint added."))
                return redirect("notify:preferences")
        elif what in {"on", "off", "delete"}:
            # Only the person's own endpoints: anyone else's answers 404.
            endpoint = get_object_or_404(Endpoint, pk=request.POST.get("endpoint", ""), user=user)
            if what == "delete" and endpoint.from_account:
                # The account's email follows the account; it can only be switched off.
                messages.error(request, _("Your account email can be switched off, not deleted."))
            elif what == "delete":
                if actions.delete_endpoint(endpoint):
                    messages.success(request, _("Endpoint deleted."))
                else:
                    messages.info(
                        request, _("The endpoint has a delivery log, so it was switched off.")
                    )
            else:
                actions.set_endpoint_active(endpoint, active=what == "on")
            return redirect("notify:preferences")
    channels = _channels(user)
    choices = actions.preferences_of(user)
    rows = [
        {
            "event": event,
            "label": label,
            "cells": [
                {
                    "name": f"p:{event}:{channel}",
                    "label": channel_label,
                    "on": choices[event, channel],
                }
                for channel, channel_label in channels
            ],
        }
        for event, label in EventKind.choices
    ]
    endpoints = Endpoint.objects.filter(user=user).order_by("kind", "pk")
    return render(
        request,
        "notify/preferences.html",
        {
            "rows": rows,
            "channels": channels,
            "endpoints": endpoints,
            "form": form,
            "email_on": settings.YUNBAO_NOTIFY_EMAIL,
        },
    )
