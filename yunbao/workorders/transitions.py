"""The work order's state machine, as data.

`TRANSITIONS` is the one table of allowed moves: for each action, the statuses it may start
from, where it leads, which roles may make it, any relation the actor must have to the order
(the assigned worker, the reporter) and which stage clock it stops. `yunbao.workorders.actions`
enforces it; pages ask `allowed_actions()` which buttons to show.

The flow follows the national digital urban-management case flow (立案 → 派遣 → 处置 → 核查
→ 结案, with 不予立案, 回退, 返工, 延期, 挂账 and 作废 as side paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Stage
from yunbao.org.models import Role
from yunbao.workorders.models import OPEN_STATUSES, Status

# The machine's own decisions (automatic accept and dispatch) are made in this role.
SYSTEM = "system"


class Relation(StrEnum):
    """A relation the actor must have to the order, beyond holding the role."""

    ASSIGNEE = "assignee"  # the worker the order is assigned to
    REPORTER = "reporter"  # the person who reported it


# A target of None means "back to where it was before" (resume after suspension).
PREVIOUS = None


@dataclass(frozen=True)
class Transition:
    action: str
    label: Promise
    sources: tuple[str, ...]
    target: str | None
    roles: frozenset[str]
    relation: Relation | None = None
    # The stage whose clock this move stops; its on-time flag goes on the timeline row.
    ends_stage: str | None = None
    note_required: bool = False


def _roles(*roles: str) -> frozenset[str]:
    return frozenset(roles)


DESK = _roles(Role.DISPATCHER, Role.MANAGER, Role.ADMIN, SYSTEM)
CHECKERS = _roles(Role.SUPERVISOR, Role.INSPECTOR, Role.MANAGER, Role.ADMIN)
APPROVERS = _roles(Role.SUPERVISOR, Role.MANAGER, Role.ADMIN)
IN_HAND = (Status.DISPATCHED, Status.IN_PROGRESS)

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition(
            "accept",
            _("Accept (file)"),
            (Status.SUBMITTED,),
            Status.ACCEPTED,
            DESK,
            ends_stage=Stage.ACCEPT,
        ),
        Transition(
            "reject",
            _("Reject"),
            (Status.SUBMITTED,),
            Status.REJECTED,
            DESK,
            ends_stage=Stage.ACCEPT,
            note_required=True,
        ),
        Transition(
            "merge",
            _("Merge as duplicate"),
            (Status.SUBMITTED, Status.ACCEPTED),
            Status.MERGED,
            DESK,
        ),
        Transition(
            "dispatch",
            _("Dispatch"),
            (Status.ACCEPTED,),
            Status.DISPATCHED,
            DESK,
            ends_stage=Stage.DISPATCH,
        ),
        Transition(
            "assign",
            _("Assign worker"),
            IN_HAND,
            PREVIOUS,
            DESK | _roles(Role.SUPERVISOR),
        ),
        Transition(
            "start",
            _("Start (on my way)"),
            (Status.DISPATCHED,),
            Status.IN_PROGRESS,
            _roles(Role.WORKER),
            relation=Relation.ASSIGNEE,
        ),
        Transition(
            "return",
            _("Return to dispatcher"),
            IN_HAND,
            Status.ACCEPTED,
            _roles(Role.WORKER, Role.SUPERVISOR),
            note_required=True,
        ),
        Transition(
            "finish",
            _("Finish (report handling)"),
            (Status.IN_PROGRESS,),
            Status.HANDLED,
            _roles(Role.WORKER),
            relation=Relation.ASSIGNEE,
            ends_stage=Stage.HANDLE,
        ),
        Transition(
            "verify",
            _("Verify and close"),
            (Status.HANDLED,),
            Status.CLOSED,
            CHECKERS,
            ends_stage=Stage.CHECK,
        ),
        Transition(
            "rework",
            _("Send back for rework"),
            (Status.HANDLED,),
            Status.DISPATCHED,
            CHECKERS,
            ends_stage=Stage.CHECK,
            note_required=True,
        ),
        Transition(
            "extend",
            _("Extend the deadline"),
            IN_HAND,
            PREVIOUS,
            APPROVERS,
            note_required=True,
        ),
        Transition(
            "suspend",
            _("Suspend"),
            (Status.ACCEPTED, *IN_HAND),
            Status.SUSPENDED,
            APPROVERS,
            note_required=True,
        ),
        Transition(
            "resume",
            _("Resume"),
            (Status.SUSPENDED,),
            PREVIOUS,
            APPROVERS,
        ),
        Transition(
            "void",
            _("Void"),
            OPEN_STATUSES,
            Status.VOIDED,
            _roles(Role.MANAGER, Role.ADMIN),
            note_required=True,
        ),
        Transition(
            "rate",
            _("Rate the result"),
            (Status.CLOSED,),
            Status.CLOSED,
            _roles(Role.RESIDENT, Role.INSPECTOR),
            relation=Relation.REPORTER,
        ),
    )
}


def target_of(transition: Transition, current: str, suspended_from: str) -> str:
    """Where `transition` leads from `current`."""
    if transition.target is not PREVIOUS:
        return transition.target
    if current == Status.SUSPENDED:
        return suspended_from
    return current
