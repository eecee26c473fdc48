"""What Open311 adds to the staff order page: the client, the answers, the client's notes.

The order page already decides who may see the order; the contact details a client sent
(e-mail, account) are shown only to the staff roles that see the reporter's phone there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from yunbao.open311.models import ClientUpdate, RequestDetails, ServiceAttribute
from yunbao.org.roles import roles_of
from yunbao.workorders.panels import Panel, register
from yunbao.workorders.views import STAFF_ROLES

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from yunbao.workorders.models import WorkOrder


def _answers(details: RequestDetails) -> list[dict[str, Any]]:
    """Each answer with its question and, for lists, the names of the chosen values."""
    category_id = details.order.category_id
    attributes = (
        {a.code: a for a in ServiceAttribute.objects.filter(category_id=category_id)}
        if category_id is not None
        else {}
    )
    answers = []
    for code, value in (details.attributes or {}).items():
        attribute = attributes.get(code)
        if attribute is None:
            answers.append({"question": code, "answer": value})
            continue
        names = {v["key"]: v["name"] for v in attribute.display_values()}
        chosen = value if isinstance(value, list) else [value]
        answers.append(
            {
                "question": attribute.display_description,
                "answer": "、".join(str(names.get(str(v), v)) for v in chosen),
            }
        )
    return answers


@register
def open311_panel(order: WorkOrder, user: User | AnonymousUser) -> Panel | None:
    details = RequestDetails.objects.select_related("client").filter(order=order).first()
    updates = list(ClientUpdate.objects.filter(order=order).select_related("client"))
    if details is None and not updates:
        return None
    return Panel(
        _("Open311"),
        "open311/_order_panel.html",
        {
            "details": details,
            "answers": _answers(details) if details else [],
            "updates": updates,
            "show_contact": bool(roles_of(user) & STAFF_ROLES),
        },
    )
