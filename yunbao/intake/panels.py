"""What intake adds to the staff order page: likely duplicates and neighbours' "me too"s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from yunbao.intake.models import DuplicateSuggestion
from yunbao.workorders.models import WorkOrder
from yunbao.workorders.panels import Panel, register

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


@register
def intake_panel(order: WorkOrder, user: User | AnonymousUser) -> Panel | None:
    visible = WorkOrder.objects.visible_to(user)
    suggestions = [
        s
        for s in DuplicateSuggestion.objects.filter(order=order).select_related("candidate")
        if visible.filter(pk=s.candidate_id).exists()
    ]
    me_toos = order.me_toos.count()
    submission = getattr(order, "submission", None)
    if not suggestions and not me_toos and submission is None:
        return None
    return Panel(
        _("Report"),
        "intake/_order_panel.html",
        {"suggestions": suggestions, "me_toos": me_toos, "submission": submission},
    )
