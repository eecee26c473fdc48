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
# A reporter without an account, recognised by the caller through the tracking token of
# their report (intake checks it); they may only make the reporter's own moves.
REPORTER = "reporter"


class Relation(StrEnum):
    """A relation the actor must have to the order, beyond holding the role."""

    ASSIGNEE = "assignee"  # the worker the order is assigned to
    REPORTER = "reporter"  # the person who reported it


# A target of None means "back to where it was before" (resume after suspension), and
# STAY means the status does not change (a request, an arrival, a refusal).
PREVIOUS = None
STAY = ""


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
    # Finishing needs proof: at least one after-photo.
    needs_after_photo: bool = False


def _roles(*roles: str) -> frozenset[str]:
    return frozenset(roles)


DESK = _roles(Role.DISPATCHER, Role.MANAGER, Role.ADMIN, SYSTEM)
CHECKERS = _roles(Role.SUPERVISOR, Role.INSPECTOR, Role.MANAGER, Role.ADMIN)
APPROVERS = _roles(Role.SUPERVISOR, Role.MANAGER, Role.ADMIN)
REPORTERS = _roles(Role.RESIDENT, Role.INSPECTOR, REPORTER)
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
            _("Take the task (接单)"),
            (Status.DISPATCHED,),
            Status.IN_PROGRESS,
            _roles(Role.WORKER),
            relation=Relation.ASSIGNEE,
        ),
        Transition(
            "arrive",
            _("Arrived on site (到场)"),
            (Status.IN_PROGRESS,),
            STAY,
            _roles(Role.WORKER),
            relation=Relation.ASSIGNEE,
        ),
        Transition(
            "request_extension",
            _("Ask for more time (延期申请)"),
            IN_HAND,
            STAY,
            _roles(Role.WORKER),
            relation=Relation.ASSIGNEE,
            note_required=True,
        ),
        Transition(
            "request_suspension",
            _("Ask to suspend (挂账申请)"),
            IN_HAND,
            STAY,
            _roles(Role.WORKER),
            relation=Relation.ASSIGNEE,
            note_required=True,
        ),
        Transition(
            "request_void",
            _("Ask to void (作废申请)"),
            (*IN_HAND, Status.ACCEPTED, Status.SUSPENDED),
            STAY,
            DESK | _roles(Role.WORKER, Role.SUPERVISOR),
            note_required=True,
        ),
        Transition(
            "refuse",
            _("Refuse the request"),
            (Status.ACCEPTED, *IN_HAND, Status.SUSPENDED),
            STAY,
            APPROVERS,
            note_required=True,
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
            note_required=True,
            needs_after_photo=True,
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
            APPROVERS,
            note_required=True,
        ),
        Transition(
            "rate",
            _("Rate the result"),
            (Status.CLOSED,),
            STAY,
            REPORTERS,
            relation=Relation.REPORTER,
        ),
        Transition(
            "reopen",
            _("Not fixed: reopen"),
            (Status.CLOSED,),
            Status.DISPATCHED,
            REPORTERS,
            relation=Relation.REPORTER,
            note_required=True,
        ),
    )
}


def target_of(transition: Transition, current: str, suspended_from: str) -> str:
    """Where `transition` leads from `current`."""
    if transition.target == STAY:
        return current
    if transition.target is not PREVIOUS:
        return transition.target
    if current == Status.SUSPENDED:
        return suspended_from
    return current
