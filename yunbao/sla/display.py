"""How an order's time-limit state reads to a person: the badge's words, class and JSON.

Shared by the `{% sla_badge %}` tag and the dispatcher console's polled queue, so a row
reads the same whether the server or the console's script drew it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from yunbao.sla.state import DUE_SOON, OVERDUE, PAUSED, SlaState, sla_state
from yunbao.workorders.models import WorkOrder

_MINUTE = 60
_HOUR = 3600
_DAY = 86400


def _amount(delta: timedelta) -> str:
    """The amount as "3 hours", "25 minutes" or "2 days": rounded down, so time left is
    never overstated; at least one minute, so a row never reads "0 minutes"."""
    seconds = abs(delta.total_seconds())
    if seconds >= 2 * _DAY:
        n = int(seconds // _DAY)
        return ngettext("%(n)d day", "%(n)d days", n) % {"n": n}
    if seconds >= _HOUR:
        n = int(seconds // _HOUR)
        return ngettext("%(n)d hour", "%(n)d hours", n) % {"n": n}
    n = max(1, int(seconds // _MINUTE))
    return ngettext("%(n)d minute", "%(n)d minutes", n) % {"n": n}


def label(state: SlaState) -> str:
    """已超时 3 小时 / 即将超时 剩 25 分钟 / 剩 5 小时 / 已暂停."""
    if state.level == OVERDUE:
        return _("Overdue by %(amount)s") % {"amount": _amount(state.remaining)}
    if state.level == DUE_SOON:
        return _("Due soon: %(amount)s left") % {"amount": _amount(state.remaining)}
    if state.level == PAUSED:
        return _("Paused")
    return _("%(amount)s left") % {"amount": _amount(state.remaining)}


def css_class(state: SlaState | None) -> str:
    """`sla-ok`, `sla-due_soon`, `sla-overdue`, `sla-paused`, or "" without a clock."""
    return f"sla-{state.level}" if state else ""


def title(state: SlaState) -> str:
    due = timezone.localtime(state.due)
    return _("Deadline %(due)s") % {"due": f"{due:%Y-%m-%d %H:%M}"}


def as_json(order: WorkOrder, now: datetime | None = None) -> dict[str, Any] | None:
    """The state for a polled JSON row (the console), or None without a running clock."""
    state = sla_state(order, now)
    if state is None:
        return None
    return {
        "level": state.level,
        "stage": state.stage,
        "due": state.due.isoformat(),
        "remaining_s": int(state.remaining.total_seconds()),
        "label": label(state),
        "title": title(state),
        "class": css_class(state),
    }


def clock_json(order: WorkOrder) -> dict[str, Any] | None:
    """The moments a polling page needs to draw the badge itself: the deadline, the warning
    point and whether the clock is paused. None of it changes as time passes, so a polled
    answer's version (the dispatcher console's ETag) stays put until the order changes."""
    state = sla_state(order)
    if state is None:
        return None
    return {
        "stage": state.stage,
        "due": state.due.isoformat(),
        "warn_at": state.warn_at.isoformat() if state.warn_at else None,
        "paused": state.level == PAUSED,
    }
