"""Field actions, exactly once: a move plus its idempotency record, or a replayed result.

Every action a phone sends carries a key the phone made (and keeps while the action waits
in its outbox). `once` makes the move and records `FieldAction(key, …)` in one transaction;
a second request with the same key, whether a retry after a lost answer or a concurrent
twin, gets the first result back and makes no second move. The same key for another order
or another action is a client bug and is refused (`KeyConflict`), as intake does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from yunbao.field.models import FieldAction
from yunbao.workorders.actions import TransitionError
from yunbao.workorders.models import TimelineEntry, WorkOrder

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class BadKey(ValueError):
    """The idempotency key is missing or malformed."""


class KeyConflict(ValueError):
    """The key was already used for another order or action."""


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]
    replayed: bool


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise BadKey(_("This request has no valid idempotency key; reload the page."))
    return key


def replay(key: str, *, user: User | None, order: WorkOrder, action: str) -> Outcome | None:
    """The recorded result of `key`, if this action was already made; None if it was not."""
    done = FieldAction.objects.filter(key=key).first()
    if done is None:
        return None
    if (
        done.order_id != order.pk
        or done.action != action
        or done.user_id != (user.pk if user else None)
    ):
        log.warning(
            "idempotency key %s reused: %s on %s by %s, first %s on order %s",
            key,
            action,
            order.number,
            user,
            done.action,
            done.order_id,
        )
        raise KeyConflict(_("This request key was already used for another action."))
    log.info("replayed %s on %s (key %s): no second move", action, order.number, key)
    return Outcome(done.result, replayed=True)


def describe(entry: TimelineEntry) -> dict[str, Any]:
    """What a phone is told about a move (and told again on a replay)."""
    order = entry.order
    return {
        "ok": True,
        "action": entry.action,
        "order": order.number,
        "status": order.status,
        "entry": entry.pk,
        "at": entry.at.isoformat(),
        "data": entry.data,
    }


def once(
    key: str,
    *,
    user: User | None,
    order: WorkOrder,
    action: str,
    move: Callable[[], TimelineEntry],
) -> Outcome:
    """Make `move` unless `key` was used for it already; record it under `key`.

    Raises `TransitionError` (nothing changed) when the move is refused, unless a
    concurrent request with the same key made it meanwhile: then that result is returned.
    """
    key = check_key(key)
    if (earlier := replay(key, user=user, order=order, action=action)) is not None:
        return earlier
    try:
        with transaction.atomic():
            entry = move()
            result = describe(entry)
            FieldAction.objects.create(
                key=key, user=user, order=order, action=action, result=result
            )
    except IntegrityError:
        # A twin with the same key committed first; this move was rolled back with the row.
        if (earlier := replay(key, user=user, order=order, action=action)) is not None:
            return earlier
        raise
    except TransitionError:
        # The twin's move may be why this one is refused (the order moved on): same answer.
        if (earlier := replay(key, user=user, order=order, action=action)) is not None:
            return earlier
        raise
    log.info("%s on %s by %s (key %s)", action, order.number, user or "reporter", key)
    return Outcome(result, replayed=False)
