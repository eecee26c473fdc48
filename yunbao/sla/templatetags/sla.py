"""`{% load sla %}`: the time-limit badge on every list and console.

    {% sla_badge order %}            coloured badge: 已超时 3 小时 / 即将超时 剩 25 分钟 / …
    {% sla_badge order now %}        against another moment (tests, replays)
    <li class="{{ order|sla_class }}">   sla-ok | sla-due_soon | sla-overdue | sla-paused | ""
    {% if order|sla_level == "overdue" %}

The state is computed from the order's own fields (no query), so a list of 50 orders
costs nothing more than the orders themselves.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from yunbao.sla.display import css_class, label, title
from yunbao.sla.state import sla_state
from yunbao.workorders.models import WorkOrder

register = template.Library()


@register.simple_tag
def sla_badge(order: WorkOrder | None, now: datetime | None = None) -> SafeString | str:
    """The badge for the order's running stage; nothing when no clock runs (closed …)."""
    if order is None:
        return ""
    state = sla_state(order, now)
    if state is None:
        return ""
    return format_html(
        '<span class="sla-badge {}" data-sla="{}" title="{}">{}</span>',
        css_class(state),
        state.level,
        title(state),
        label(state),
    )


@register.filter
def sla_class(order: WorkOrder | None) -> str:
    """The CSS class of the order's state ("" when no clock runs)."""
    return css_class(sla_state(order)) if order is not None else ""


@register.filter
def sla_level(order: WorkOrder | None) -> str:
    """The level: "ok", "due_soon", "overdue", "paused", or "" when no clock runs."""
    state = sla_state(order) if order is not None else None
    return state.level if state else ""
