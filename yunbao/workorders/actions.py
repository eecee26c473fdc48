"""Every write to a work order: one verb function per move of its life.

Each verb calls `transition()`, which checks the move against `TRANSITIONS`, locks the row,
applies the change, starts or stops the stage clocks, writes one timeline row (the audit log,
the SLA record and the trigger for side effects) and publishes an event after commit.
Pages, APIs, commands and tasks call these functions and nothing else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import File
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.catalog.limits import time_limit
from yunbao.catalog.models import Category, Scene, Stage, Urgency
from yunbao.geo.coords import haversine_m
from yunbao.geo.locate import LocateError, OutsideDistrict, check_coordinates, h3_cell, locate
from yunbao.geo.models import Area, Level
from yunbao.lib import rows
from yunbao.lib.worktime import default_calendar
from yunbao.org.models import Role, Unit
from yunbao.org.roles import roles_of, unit_of
from yunbao.workorders import events
from yunbao.workorders.models import (
    OPEN_STATUSES,
    STAGE_OF_STATUS,
    OrderRequest,
    Photo,
    PhotoKind,
    RequestKind,
    RequestStatus,
    Source,
    Status,
    TimelineEntry,
    WorkOrder,
)
from yunbao.workorders.transitions import (
    REPORTER,
    SYSTEM,
    TRANSITIONS,
    Relation,
    Transition,
    target_of,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    Actor = User | None

log = logging.getLogger(__name__)


class TransitionError(Exception):
    """A move that may not be made; nothing was changed."""


class NotAllowed(TransitionError):
    """The move is not allowed from this status, for this actor or on this order."""


class InvalidInput(TransitionError):
    """The move is allowed but its input is wrong (missing note, worker of another unit …)."""


# Which role an actor acts in when they hold several that may make the move.
ROLE_PRIORITY = (
    Role.WORKER,
    Role.SUPERVISOR,
    Role.DISPATCHER,
    Role.INSPECTOR,
    Role.RESIDENT,
    Role.MANAGER,
    Role.ADMIN,
)


# Which request each request move files, and which move approves a request of each kind.
REQUEST_OF_ACTION = {
    "request_extension": RequestKind.EXTENSION,
    "request_suspension": RequestKind.SUSPENSION,
    "request_void": RequestKind.VOID,
}
APPROVAL_OF_KIND = {
    RequestKind.EXTENSION: "extend",
    RequestKind.SUSPENSION: "suspend",
    RequestKind.VOID: "void",
}


def allowed_actions(
    order: WorkOrder, actor: Actor, *, as_reporter: bool = False
) -> list[Transition]:
    """The moves `actor` may make on `order` now (for the buttons on a page)."""
    return [
        t
        for t in TRANSITIONS.values()
        if order.status in t.sources and _acting_role(t, order, actor, as_reporter) is not None
    ]


def _acting_role(
    t: Transition, order: WorkOrder, actor: Actor, as_reporter: bool = False
) -> str | None:
    if actor is None:
        if as_reporter:
            # The caller has checked the report's tracking token: the anonymous reporter.
            return REPORTER if REPORTER in t.roles and t.relation is Relation.REPORTER else None
        return SYSTEM if SYSTEM in t.roles else None
    held = roles_of(actor) & t.roles
    if not held:
        return None
    if t.relation is Relation.ASSIGNEE and order.worker_id != actor.pk:
        return None
    if t.relation is Relation.REPORTER and order.reporter_id != actor.pk:
        return None
    return next(r for r in ROLE_PRIORITY if r in held)


def _due(order: WorkOrder, stage: str, start: datetime) -> datetime:
    """Start `stage`'s clock at `start`: returns its deadline and sets the warning point."""
    amount, unit = time_limit(order.category, stage, order.urgency)
    calendar = default_calendar()
    share = Decimal(str(settings.YUNBAO_SLA_WARN_SHARE))
    order.warn_at = calendar.add(start, amount * share, unit)
    return calendar.add(start, amount, unit)


def _shift_clock(order: WorkOrder, stage: str, delta: timedelta) -> None:
    """Give a paused stage its time back: deadline and warning point move together."""
    due = order.due_for(stage)
    if due is not None:
        setattr(order, f"{stage}_due", due + delta)
    if order.warn_at is not None:
        order.warn_at += delta


def _enter(order: WorkOrder, status: str, at: datetime) -> None:
    """Record reaching `status` at `at` and start the clock of the stage it begins."""
    if status == Status.ACCEPTED:
        order.accepted_at = at
        order.dispatch_due = _due(order, Stage.DISPATCH, at)
    elif status == Status.DISPATCHED:
        order.dispatched_at = at
        order.arrived_at = None
        order.handle_due = _due(order, Stage.HANDLE, at)
    elif status == Status.IN_PROGRESS:
        order.started_at = at
    elif status == Status.HANDLED:
        order.handled_at = at
        order.check_due = _due(order, Stage.CHECK, at)
    elif status == Status.CLOSED:
        order.closed_at = at
    if status not in STAGE_OF_STATUS:
        order.warn_at = None  # no clock runs (closed, rejected, merged, voided)


def transition(
    order: WorkOrder,
    action: str,
    *,
    actor: Actor,
    note: str = "",
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
    change: Callable[[WorkOrder], None] | None = None,
    as_reporter: bool = False,
) -> TimelineEntry:
    """Make one move of the state machine, or raise and change nothing.

    `change` edits the locked order (unit, worker, category …) before the status moves;
    `at` lets imports and the demo replay history and defaults to now. `as_reporter` (with
    no actor) acts for a reporter without an account whose tracking token the caller checked.
    """
    t = TRANSITIONS.get(action)
    if t is None:
        raise NotAllowed(_("Unknown action “%(action)s”.") % {"action": action})
    note = note.strip()
    if t.note_required and not note:
        raise InvalidInput(_("A reason is required to %(action)s.") % {"action": t.label})
    at = at or timezone.now()
    with transaction.atomic():
        # of=self: PostgreSQL cannot lock the nullable side of the category join.
        locked = (
            WorkOrder.objects.select_for_update(of=("self",))
            .select_related("category")
            .get(pk=order.pk)
        )
        role = _acting_role(t, locked, actor, as_reporter)
        if role is None:
            log.warning("refused %s on %s by %s: role", action, locked.number, actor)
            raise NotAllowed(
                _("You may not %(action)s this order.") % {"action": str(t.label).lower()}
            )
        if (
            actor is not None
            and not WorkOrder.objects.visible_to(actor).filter(pk=locked.pk).exists()
        ):
            log.warning("refused %s on %s by %s: outside their area", action, locked.number, actor)
            raise NotAllowed(_("This order is outside your area."))
        if locked.status not in t.sources:
            raise NotAllowed(
                _("Cannot %(action)s an order that is %(status)s.")
                % {"action": str(t.label).lower(), "status": locked.get_status_display()}
            )
        last = locked.timeline.order_by("-at", "-id").values_list("at", flat=True).first()
        if last is not None and at < last:
            raise InvalidInput(_("A move cannot be dated before the order's last move."))

        from_status = locked.status
        to_status = target_of(t, from_status, locked.suspended_from)
        on_time: bool | None = None
        if t.ends_stage:
            due = locked.due_for(t.ends_stage)
            on_time = None if due is None else at <= due
        if change is not None:
            change(locked)
        _settle_request(locked, t, from_status, to_status, actor, note, at)
        after_photos: list[int] = []
        if t.needs_after_photo:
            # Photos uploaded for this round (possibly earlier, on a flaky network) and not
            # yet tied to a move are the proof of this one.
            after_photos = list(
                locked.photos.filter(kind=PhotoKind.AFTER, entry__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            if not after_photos:
                raise InvalidInput(_("Add at least one photo of the result."))
        if to_status != from_status:
            if to_status == Status.SUSPENDED:
                locked.suspended_from, locked.suspended_at = from_status, at
            elif from_status == Status.SUSPENDED:
                _shift_paused_clock(locked, at)
            else:
                _enter(locked, to_status, at)
            locked.status = to_status
        locked.save()
        entry = TimelineEntry.objects.create(
            order=locked,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            role=role,
            note=note,
            at=at,
            on_time=on_time,
            data=data or {},
        )
        if after_photos:
            Photo.objects.filter(pk__in=after_photos).update(entry=entry)
        events.publish(entry)
    _copy_state(locked, order)
    return entry


# The statuses a request can be made in (see `_settle_request`).
_REQUEST_STATUSES = frozenset(
    status for action in REQUEST_OF_ACTION for status in TRANSITIONS[action].sources
)


def _settle_request(
    order: WorkOrder,
    t: Transition,
    from_status: str,
    to_status: str,
    actor: Actor,
    note: str,
    at: datetime,
) -> None:
    """Decide the order's waiting request, if this move approves, refuses or overtakes it.

    The approving move (extend, suspend, void) approves it; `refuse` refuses it; any other
    move that changes the status (a return, a finish …) makes it moot, recorded as refused.
    Whatever the outcome, a clock paused for the request runs again.
    """
    if t.action in REQUEST_OF_ACTION:
        return  # the request verb itself creates the row (in its `change`)
    # A request is settled by the first move that changes the status, so one can only be
    # waiting in a status a request is made in: elsewhere (a new or merged order) no query.
    pending = (
        order.requests.filter(status=RequestStatus.PENDING).first()
        if from_status in _REQUEST_STATUSES
        else None
    )
    if pending is None:
        if t.action == "refuse":
            raise InvalidInput(_("No request is waiting for a decision on this order."))
        return
    approved = t.action == APPROVAL_OF_KIND[RequestKind(pending.kind)]
    if not (approved or t.action == "refuse" or to_status != from_status):
        return
    pending.status = RequestStatus.APPROVED if approved else RequestStatus.REFUSED
    pending.decided_by = actor
    pending.decided_at = at
    if approved or t.action == "refuse":
        pending.decision_note = note
    else:
        pending.decision_note = _("Overtaken by: %(action)s") % {"action": t.label}
    pending.save()
    if order.paused_at is not None:
        stage = order.current_stage
        # An approved extension sets its own new deadline; otherwise the wait is given back.
        if stage and not (approved and pending.kind == RequestKind.EXTENSION):
            _shift_clock(order, stage, at - order.paused_at)
        order.paused_at = None


def _shift_paused_clock(order: WorkOrder, at: datetime) -> None:
    """On resume, push the running stage's deadline by the time spent suspended."""
    stage = STAGE_OF_STATUS.get(order.suspended_from)
    if stage and order.suspended_at:
        _shift_clock(order, stage, at - order.suspended_at)
    order.suspended_from, order.suspended_at = "", None


def _copy_state(source: WorkOrder, target: WorkOrder) -> None:
    if source is not target:
        target.__dict__.update(
            {f.attname: getattr(source, f.attname) for f in WorkOrder._meta.concrete_fields}
        )
        target._state.fields_cache = {}


# --- The verbs ---------------------------------------------------------------------------


def submit(
    *,
    actor: Actor,
    lat: float,
    lon: float,
    description: str = "",
    category: Category | None = None,
    scene: Scene | None = None,
    urgency: str | None = None,
    source: str = Source.RESIDENT,
    address: str = "",
    reporter_name: str = "",
    reporter_phone: str = "",
    at: datetime | None = None,
    allow_outside: bool = False,
) -> WorkOrder:
    """Create an order at a point; it is located in its grid and its accept clock starts.

    Raises `yunbao.geo.locate.LocateError` for bad coordinates, and `OutsideDistrict` for a
    point in no grid unless `allow_outside`, when it is filed under the district instead.
    """
    order = new_order(
        actor=actor,
        lat=lat,
        lon=lon,
        description=description,
        category=category,
        scene=scene,
        urgency=urgency,
        source=source,
        address=address,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        at=at,
        allow_outside=allow_outside,
    )
    return submit_new(order, actor=actor)


def new_order(
    *,
    actor: Actor,
    lat: float,
    lon: float,
    description: str = "",
    category: Category | None = None,
    scene: Scene | None = None,
    urgency: str | None = None,
    source: str = Source.RESIDENT,
    address: str = "",
    reporter_name: str = "",
    reporter_phone: str = "",
    at: datetime | None = None,
    allow_outside: bool = False,
) -> WorkOrder:
    """The order `submit` creates, located and with its accept clock started, not saved.

    It only reads (the grid index, the category's limits, the calendar), so a caller whose
    transaction holds SQLite's write lock from its start (intake) makes it before that
    transaction and passes it to `submit_new` inside. Raises as `submit` does.
    """
    at = at or timezone.now()
    try:
        location = locate(lat, lon)
        grid, area_path = location.grid, location.grid.path
    except OutsideDistrict:
        if not allow_outside:
            raise
        # Accepted for the dispatcher: filed under the district, so district staff see it.
        district = Area.objects.filter(level=Level.DISTRICT).order_by("code").first()
        if district is None:
            raise
        grid, area_path = None, district.path
    if scene is None and category is not None:
        scene = category.scenes.order_by("sort").first()
    order = WorkOrder(
        # A placeholder until the row's id gives the number; "~" sorts after every number,
        # so it lands on the index page the real one will (one page written, not two).
        number=f"~{uuid.uuid4().hex[:23]}",
        status=Status.SUBMITTED,
        source=source,
        scene=scene,
        category=category,
        urgency=urgency or (category.default_urgency if category else Urgency.NORMAL),
        description=description.strip(),
        address=address.strip(),
        lat=float(lat),
        lon=float(lon),
        h3_cell=h3_cell(lat, lon),
        grid=grid,
        area_path=area_path,
        reporter=actor,
        reporter_name=reporter_name.strip(),
        reporter_phone=reporter_phone.strip(),
        created_at=at,
    )
    order.accept_due = _due(order, Stage.ACCEPT, at)
    return order


def submit_new(order: WorkOrder, *, actor: Actor) -> WorkOrder:
    """Save an order made by `new_order` for `actor`: the row, its number, the submit
    timeline entry and its event, in one transaction (the caller's, if it has one)."""
    # A caller's mistake, never a reporter's: plain errors, no page shows them.
    if order.pk is not None or order.status != Status.SUBMITTED:
        raise ValueError("submit_new takes a new order from new_order")
    if order.reporter_id != (actor.pk if actor is not None else None):
        raise ValueError("submit_new's actor must be the order's reporter")
    at = order.created_at
    # No savepoint: a failure here fails the whole report, so there is nothing to keep.
    with transaction.atomic(savepoint=False):
        # The order, its entry and the submission are written with prepared INSERTs
        # (`yunbao.lib.rows`): the ORM's save cost four times SQLite's write on every report.
        rows.insert(order)
        # Numbers are human-friendly and sortable: YB + local date + the row id.
        order.number = f"YB{timezone.localtime(at):%Y%m%d}{order.pk:06d}"
        # Plain SQL, not a second model save or a compiled `update()`: one statement on the
        # hot path of every report.
        with connection.cursor() as cursor:
            cursor.execute(_set_number_sql(), [order.number, order.pk])
        actor_roles = roles_of(actor) if actor is not None else set()
        role = next((r for r in ROLE_PRIORITY if r in actor_roles), SYSTEM)
        entry = rows.insert(
            TimelineEntry(
                order=order,
                action="submit",
                from_status="",
                to_status=Status.SUBMITTED,
                actor=actor,
                role=role if actor is not None else SYSTEM,
                at=at,
            )
        )
        events.publish(entry)
    return order


def _set_number_sql() -> str:
    quote = connection.ops.quote_name
    meta = WorkOrder._meta
    table = quote(meta.db_table)
    column = quote(str(meta.get_field("number").column))
    key = quote(str(meta.pk.column))
    # Only quoted names are formatted in; the values are parameters.
    return f"UPDATE {table} SET {column} = %s WHERE {key} = %s"  # noqa: S608


def accept(
    order: WorkOrder,
    *,
    actor: Actor,
    category: Category | None = None,
    urgency: str | None = None,
    note: str = "",
    at: datetime | None = None,
) -> TimelineEntry:
    def change(o: WorkOrder) -> None:
        if category is not None:
            o.category = category
            o.scene = o.scene or category.scenes.order_by("sort").first()
        if urgency is not None:
            o.urgency = urgency
        if o.category is None:
            raise InvalidInput(_("Choose a category before accepting the order."))

    return transition(order, "accept", actor=actor, note=note, at=at, change=change)


def reject(
    order: WorkOrder, *, actor: Actor, note: str, at: datetime | None = None
) -> TimelineEntry:
    return transition(order, "reject", actor=actor, note=note, at=at)


def merge(
    order: WorkOrder,
    *,
    actor: Actor,
    into: WorkOrder,
    note: str = "",
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    if into.pk == order.pk:
        raise InvalidInput(_("An order cannot be a duplicate of itself."))
    if into.status not in OPEN_STATUSES and into.status != Status.CLOSED:
        raise InvalidInput(
            _("Merge into an open or closed order, not a %(status)s one.")
            % {"status": into.get_status_display()}
        )

    def change(o: WorkOrder) -> None:
        o.duplicate_of = into

    return transition(
        order,
        "merge",
        actor=actor,
        note=note,
        at=at,
        change=change,
        data={"into": into.number, **(data or {})},
    )


def _check_worker(worker: User, unit: Unit | None) -> None:
    if Role.WORKER not in roles_of(worker):
        raise InvalidInput(_("%(name)s is not a field worker.") % {"name": worker})
    worker_unit = unit_of(worker)
    if unit is None or worker_unit is None or worker_unit.pk != unit.pk:
        raise InvalidInput(_("%(name)s does not work for that unit.") % {"name": worker})


def dispatch(
    order: WorkOrder,
    *,
    actor: Actor,
    unit: Unit,
    worker: User | None = None,
    note: str = "",
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    def change(o: WorkOrder) -> None:
        if worker is not None:
            _check_worker(worker, unit)
        o.unit = unit
        o.worker = worker

    details = {"unit": unit.code, "worker": worker.get_username() if worker else None}
    return transition(
        order,
        "dispatch",
        actor=actor,
        note=note,
        at=at,
        change=change,
        data={**details, **(data or {})},
    )


def assign(
    order: WorkOrder,
    *,
    actor: Actor,
    worker: User,
    note: str = "",
    at: datetime | None = None,
) -> TimelineEntry:
    def change(o: WorkOrder) -> None:
        _check_worker(worker, o.unit)
        o.worker = worker

    return transition(
        order,
        "assign",
        actor=actor,
        note=note,
        at=at,
        change=change,
        data={"worker": worker.get_username()},
    )


def start(
    order: WorkOrder, *, actor: Actor, note: str = "", at: datetime | None = None
) -> TimelineEntry:
    return transition(order, "start", actor=actor, note=note, at=at)


def return_order(
    order: WorkOrder, *, actor: Actor, note: str, at: datetime | None = None
) -> TimelineEntry:
    """回退: the unit says the order is not theirs; it goes back to the dispatcher."""

    def change(o: WorkOrder) -> None:
        o.unit = None
        o.worker = None

    return transition(order, "return", actor=actor, note=note, at=at, change=change)


@dataclass(frozen=True)
class PhotoInput:
    """A photo already checked, stripped of EXIF and stored (by intake's photo pipeline)."""

    image: str
    thumbnail: str = ""
    width: int = 0
    height: int = 0
    taken_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None


def finish(
    order: WorkOrder,
    *,
    actor: Actor,
    note: str,
    at: datetime | None = None,
    photos: Iterable[File[Any] | PhotoInput] = (),
) -> TimelineEntry:
    """处置完成: the handling note and at least one after-photo (given here or uploaded
    before with `add_photo`) are required; the photos commit with the move or not at all."""
    photos = list(photos)

    def change(o: WorkOrder) -> None:
        for photo in photos:
            if isinstance(photo, PhotoInput):
                add_photo(
                    o,
                    actor=actor,
                    kind=PhotoKind.AFTER,
                    image=photo.image,
                    thumbnail=photo.thumbnail or None,
                    width=photo.width,
                    height=photo.height,
                    taken_at=photo.taken_at,
                    lat=photo.lat,
                    lon=photo.lon,
                )
            else:
                add_photo(o, actor=actor, kind=PhotoKind.AFTER, image=photo)

    return transition(order, "finish", actor=actor, note=note, at=at, change=change)


def arrive(
    order: WorkOrder,
    *,
    actor: Actor,
    lat: float,
    lon: float,
    accuracy_m: float | None = None,
    at: datetime | None = None,
) -> TimelineEntry:
    """到场: recorded with the phone's position; too far from the order is allowed but
    recorded as a warning on the timeline (the supervisor sees it)."""
    try:
        check_coordinates(lat, lon)
    except LocateError as exc:
        raise InvalidInput(str(exc)) from exc
    moment = at or timezone.now()
    distance = round(haversine_m(lat, lon, order.lat, order.lon))
    too_far = distance > settings.YUNBAO_ARRIVE_RADIUS_M
    if too_far:
        log.warning("order %s: %s arrived %d m away", order.number, actor, distance)

    def change(o: WorkOrder) -> None:
        o.arrived_at = moment

    return transition(
        order,
        "arrive",
        actor=actor,
        note=_("Arrived %(distance)d m from the reported place.") % {"distance": distance}
        if too_far
        else "",
        at=moment,
        change=change,
        data={
            "lat": lat,
            "lon": lon,
            "accuracy_m": accuracy_m,
            "distance_m": distance,
            "too_far": too_far,
        },
    )


def request_change(
    order: WorkOrder,
    *,
    actor: Actor,
    kind: str,
    note: str,
    until: datetime | None = None,
    at: datetime | None = None,
) -> TimelineEntry:
    """Ask for an extension (延期, with the deadline wanted), a suspension (挂账) or a void;
    a supervisor decides. While an extension request waits, the stage clock is paused."""
    kind = RequestKind(kind)
    action = next(a for a, k in REQUEST_OF_ACTION.items() if k == kind)
    moment = at or timezone.now()
    if kind == RequestKind.EXTENSION and until is None:
        raise InvalidInput(_("Say until when you need more time."))

    def change(o: WorkOrder) -> None:
        if o.requests.filter(status=RequestStatus.PENDING).exists():
            raise InvalidInput(_("A request is already waiting for a decision on this order."))
        if kind == RequestKind.EXTENSION:
            assert until is not None
            if o.handle_due is not None and until <= o.handle_due:
                raise InvalidInput(_("An extension must end after the current deadline."))
            o.paused_at = moment
        OrderRequest.objects.create(
            order=o,
            kind=kind,
            reason=note.strip(),
            until=until,
            requested_by=actor,
            requested_at=moment,
        )

    return transition(
        order,
        action,
        actor=actor,
        note=note,
        at=moment,
        change=change,
        data={"until": until.isoformat()} if until else {},
    )


def decide_request(
    request: OrderRequest,
    *,
    actor: Actor,
    approve: bool,
    note: str = "",
    at: datetime | None = None,
) -> TimelineEntry:
    """Approve (by making the move asked for) or refuse a waiting request."""
    # Re-read: another approver (or a replayed form) may have decided it meanwhile.
    request.refresh_from_db(fields=["status"])
    if request.status != RequestStatus.PENDING:
        raise InvalidInput(_("This request has already been decided."))
    order = request.order
    if not approve:
        return transition(
            order, "refuse", actor=actor, note=note, at=at, data={"request": request.pk}
        )
    reason = note or request.reason
    match request.kind:
        case RequestKind.EXTENSION:
            assert request.until is not None
            return extend(order, actor=actor, until=request.until, note=reason, at=at)
        case RequestKind.SUSPENSION:
            return suspend(order, actor=actor, note=reason, at=at)
        case _:
            return void(order, actor=actor, note=reason, at=at)


def reopen(
    order: WorkOrder,
    *,
    actor: Actor,
    note: str,
    at: datetime | None = None,
    as_reporter: bool = False,
) -> TimelineEntry:
    """The reporter says it is not really fixed: back to the same worker as rework, within
    `YUNBAO_REOPEN_DAYS` of closing."""
    moment = at or timezone.now()

    def change(o: WorkOrder) -> None:
        limit = timedelta(days=settings.YUNBAO_REOPEN_DAYS)
        if o.closed_at is None or moment - o.closed_at > limit:
            raise InvalidInput(
                _("An order can be reopened within %(days)d days of closing.")
                % {"days": settings.YUNBAO_REOPEN_DAYS}
            )
        o.rework_count += 1
        o.rating = None
        o.rating_comment = ""

    return transition(
        order,
        "reopen",
        actor=actor,
        note=note,
        at=moment,
        change=change,
        as_reporter=as_reporter,
        data={"rework": True},
    )


def verify(
    order: WorkOrder, *, actor: Actor, note: str = "", at: datetime | None = None
) -> TimelineEntry:
    return transition(order, "verify", actor=actor, note=note, at=at)


def rework(
    order: WorkOrder, *, actor: Actor, note: str, at: datetime | None = None
) -> TimelineEntry:
    """返工: the check failed; back to the same worker with a new handling deadline."""

    def change(o: WorkOrder) -> None:
        o.rework_count += 1

    return transition(order, "rework", actor=actor, note=note, at=at, change=change)


def extend(
    order: WorkOrder, *, actor: Actor, until: datetime, note: str, at: datetime | None = None
) -> TimelineEntry:
    """延期 (approved): move the handling deadline later."""

    previous = order.handle_due

    def change(o: WorkOrder) -> None:
        if o.handle_due is not None and until <= o.handle_due:
            raise InvalidInput(_("An extension must end after the current deadline."))
        o.handle_due = until
        # An extension is a date, not an amount of working time: warn at the same share of
        # the new span, counted from the move (a late extension still warns before its end).
        moment = at or timezone.now()
        o.warn_at = moment + (until - moment) * float(settings.YUNBAO_SLA_WARN_SHARE)

    return transition(
        order,
        "extend",
        actor=actor,
        note=note,
        at=at,
        change=change,
        data={"from": previous.isoformat() if previous else None, "until": until.isoformat()},
    )


def suspend(
    order: WorkOrder, *, actor: Actor, note: str, at: datetime | None = None
) -> TimelineEntry:
    return transition(order, "suspend", actor=actor, note=note, at=at)


def resume(
    order: WorkOrder, *, actor: Actor, note: str = "", at: datetime | None = None
) -> TimelineEntry:
    return transition(order, "resume", actor=actor, note=note, at=at)


def void(order: WorkOrder, *, actor: Actor, note: str, at: datetime | None = None) -> TimelineEntry:
    return transition(order, "void", actor=actor, note=note, at=at)


def rate(
    order: WorkOrder,
    *,
    actor: Actor,
    rating: int,
    comment: str = "",
    at: datetime | None = None,
    as_reporter: bool = False,
) -> TimelineEntry:
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(_("A rating is a whole number from 1 to 5."))

    def change(o: WorkOrder) -> None:
        o.rating = rating
        o.rating_comment = comment.strip()

    return transition(
        order,
        "rate",
        actor=actor,
        note=comment,
        at=at,
        change=change,
        data={"rating": rating},
        as_reporter=as_reporter,
    )


def add_photo(
    order: WorkOrder,
    *,
    actor: Actor,
    kind: str,
    image: File[Any] | str,
    entry: TimelineEntry | None = None,
    taken_at: datetime | None = None,
    lat: float | None = None,
    lon: float | None = None,
    thumbnail: File[Any] | str | None = None,
    width: int = 0,
    height: int = 0,
) -> Photo:
    """Attach a photo (already checked and stripped of EXIF by intake) to an order."""
    if kind not in PhotoKind.values:
        raise InvalidInput(_("Unknown photo kind."))
    photo = Photo(
        order=order,
        entry=entry,
        kind=kind,
        taken_at=taken_at,
        lat=lat,
        lon=lon,
        uploaded_by=actor,
        width=width,
        height=height,
    )
    # A str is the name of a file already in storage (intake stores before it locks).
    if isinstance(image, str):
        photo.image.name = image
    else:
        photo.image.save(image.name or "photo.jpg", image, save=False)
    if isinstance(thumbnail, str):
        photo.thumbnail.name = thumbnail
    elif thumbnail is not None:
        photo.thumbnail.save(thumbnail.name or "thumb.jpg", thumbnail, save=False)
    photo.save()
    return photo
