"""Every move of the state machine, for every role, allowed and forbidden."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import translation

from yunbao.workorders import actions, events
from yunbao.workorders.actions import InvalidInput, NotAllowed
from yunbao.workorders.models import Status, TimelineEntry, WorkOrder
from yunbao.workorders.tests.helpers import PATHS, bring_to, do
from yunbao.workorders.transitions import TRANSITIONS

# Who plays each role on an order of street one (Erin reported it, Bob is assigned to it).
PLAYERS: dict[str, str | None] = {
    "resident": "erin",
    "inspector": "fay",
    "dispatcher": "alice",
    "worker": "bob",
    "supervisor": "carol",
    "manager": "dave",
    "organiser": "oscar",
    "admin": "ada",
    "system": None,
}


DESK = {"dispatcher", "manager", "admin", "system"}
# The rules as the business states them, written out independently of TRANSITIONS.
EXPECTED: dict[str, set[str]] = {
    "accept": DESK,
    "reject": DESK,
    "merge": DESK,
    "dispatch": DESK,
    "assign": DESK | {"supervisor"},
    "start": {"worker"},
    "return": {"worker", "supervisor"},
    "finish": {"worker"},
    "verify": {"supervisor", "inspector", "manager", "admin"},
    "rework": {"supervisor", "inspector", "manager", "admin"},
    "extend": {"supervisor", "manager", "admin"},
    "suspend": {"supervisor", "manager", "admin"},
    "resume": {"supervisor", "manager", "admin"},
    "void": {"supervisor", "manager", "admin"},
    "rate": {"resident"},
    "reopen": {"resident"},
    "arrive": {"worker"},
    "request_extension": {"worker"},
    "request_suspension": {"worker"},
    "request_void": DESK | {"worker", "supervisor"},
    "refuse": {"supervisor", "manager", "admin"},
}


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # The refusals are matched by their English wording; the default language is zh-hans.
    with translation.override("en"):
        yield


def snapshot(order: WorkOrder) -> tuple[dict[str, Any], int]:
    row: dict[str, Any] = dict(WorkOrder.objects.filter(pk=order.pk).values().get())
    row.pop("updated_at")
    return row, TimelineEntry.objects.filter(order=order).count()


def test_it_covers_every_action() -> None:
    assert set(EXPECTED) == set(TRANSITIONS)


@pytest.mark.parametrize("role", sorted(PLAYERS))
@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_it_allows_exactly_the_right_roles(world: Any, action: str, role: str) -> None:
    transition = TRANSITIONS[action]
    order = bring_to(world, transition.sources[0])
    who = PLAYERS[role]
    actor = None if who is None else world.users[who]
    before = snapshot(order)
    if role in EXPECTED[action]:
        entry = do(world, action, order, actor)
        assert entry.action == action
        assert entry.role == role
        assert entry.actor == actor
        assert WorkOrder.objects.get(pk=order.pk).status == entry.to_status
        assert snapshot(order)[1] == before[1] + 1
    else:
        with pytest.raises(NotAllowed):
            do(world, action, order, actor)
        assert snapshot(order) == before


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_it_refuses_every_move_from_a_wrong_status(world: Any, action: str) -> None:
    transition = TRANSITIONS[action]
    for status in PATHS:
        if status in transition.sources:
            continue
        order = bring_to(world, status)
        before = snapshot(order)
        for role in EXPECTED[action]:
            who = PLAYERS[role]
            with pytest.raises(NotAllowed):
                do(world, action, order, None if who is None else world.users[who])
        assert snapshot(order) == before, (action, status)


def test_it_keeps_staff_to_their_area(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    before = snapshot(order)
    with pytest.raises(NotAllowed, match="outside your area"):
        actions.accept(order, actor=world.users["olga"])
    assert snapshot(order) == before
    # …and Olga may work her own street.
    other = bring_to(world, Status.SUBMITTED, street=2)
    actions.accept(other, actor=world.users["olga"])
    assert other.status == Status.ACCEPTED


def test_it_lets_only_the_assigned_worker_start(world: Any) -> None:
    order = bring_to(world, Status.DISPATCHED)
    with pytest.raises(NotAllowed):
        actions.start(order, actor=world.users["bill"])
    actions.start(order, actor=world.users["bob"])
    assert order.status == Status.IN_PROGRESS


def test_it_lets_only_the_reporter_rate(world: Any) -> None:
    order = bring_to(world, Status.CLOSED)
    with pytest.raises(NotAllowed):
        actions.rate(order, actor=world.users["emma"], rating=1)
    with pytest.raises(InvalidInput):
        actions.rate(order, actor=world.users["erin"], rating=6)
    actions.rate(order, actor=world.users["erin"], rating=4, comment="ok")
    order.refresh_from_db()
    assert (order.rating, order.rating_comment, order.status) == (4, "ok", Status.CLOSED)


@pytest.mark.parametrize("action", ["reject", "return", "rework", "suspend", "void", "extend"])
def test_it_requires_a_reason(world: Any, action: str) -> None:
    order = bring_to(world, TRANSITIONS[action].sources[0])
    before = snapshot(order)
    with pytest.raises(InvalidInput, match="reason"):
        actions.transition(order, action, actor=world.users["ada"], note="  ")
    assert snapshot(order) == before


def test_it_refuses_a_worker_of_another_unit(world: Any) -> None:
    order = bring_to(world, Status.ACCEPTED)
    before = snapshot(order)
    with pytest.raises(InvalidInput, match="does not work for that unit"):
        actions.dispatch(order, actor=None, unit=world.unit1, worker=world.users["walt"])
    with pytest.raises(InvalidInput, match="not a field worker"):
        actions.dispatch(order, actor=None, unit=world.unit1, worker=world.users["carol"])
    assert snapshot(order) == before


def test_it_refuses_an_unknown_action_and_a_backdated_move(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    with pytest.raises(NotAllowed, match="Unknown action"):
        actions.transition(order, "teleport", actor=None)
    with pytest.raises(InvalidInput, match="before"):
        actions.accept(order, actor=None, at=order.created_at - timedelta(minutes=1))
    assert WorkOrder.objects.get(pk=order.pk).status == Status.SUBMITTED


def test_it_starts_and_stops_the_clocks(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    t0 = order.created_at
    # The test category allows 2 natural hours for every stage.
    assert order.accept_due == t0 + timedelta(hours=2)
    actions.accept(order, actor=None, at=t0 + timedelta(hours=3))
    assert order.dispatch_due == t0 + timedelta(hours=5)
    late = order.timeline.get(action="accept")
    assert late.on_time is False
    actions.dispatch(
        order, actor=None, unit=world.unit1, worker=world.users["bob"], at=t0 + timedelta(hours=4)
    )
    assert order.timeline.get(action="dispatch").on_time is True
    assert order.handle_due == t0 + timedelta(hours=6)
    assert order.unit == world.unit1


def test_it_pauses_the_clock_while_suspended(world: Any) -> None:
    order = bring_to(world, Status.DISPATCHED)
    due = order.handle_due
    start = order.dispatched_at
    assert due is not None
    assert start is not None
    actions.suspend(order, actor=world.users["carol"], note="等批复", at=start + timedelta(hours=1))
    assert (order.status, order.suspended_from) == (Status.SUSPENDED, Status.DISPATCHED)
    actions.resume(order, actor=world.users["carol"], at=start + timedelta(hours=25))
    assert order.status == Status.DISPATCHED
    assert order.handle_due == due + timedelta(hours=24)
    assert order.suspended_at is None


def test_it_sends_rework_back_to_the_same_worker(world: Any) -> None:
    order = bring_to(world, Status.HANDLED)
    actions.rework(order, actor=world.users["fay"], note="没扫干净")
    assert order.status == Status.DISPATCHED
    assert order.worker == world.users["bob"]
    assert order.rework_count == 1
    assert order.handle_due is not None
    assert order.handled_at is not None
    assert order.handle_due > order.handled_at


def test_it_returns_an_order_to_the_dispatcher(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    actions.return_order(order, actor=world.users["bob"], note="属于绿化")
    assert (order.status, order.unit, order.worker) == (Status.ACCEPTED, None, None)


def test_it_merges_a_duplicate(world: Any) -> None:
    order = bring_to(world, Status.MERGED)
    assert order.duplicate_of is not None
    assert order.timeline.get(action="merge").data["into"] == order.duplicate_of.number
    target = order.duplicate_of
    with pytest.raises(InvalidInput, match="itself"):
        actions.merge(target, actor=None, into=target)
    with pytest.raises(InvalidInput, match="Merge into an open or closed order"):
        actions.merge(bring_to(world, Status.SUBMITTED), actor=None, into=order)


def test_it_extends_only_forward(world: Any) -> None:
    order = bring_to(world, Status.DISPATCHED)
    assert order.handle_due is not None
    with pytest.raises(InvalidInput, match="after the current deadline"):
        actions.extend(order, actor=world.users["carol"], until=order.handle_due, note="x")
    later = order.handle_due + timedelta(days=2)
    actions.extend(order, actor=world.users["carol"], until=later, note="需要材料")
    assert order.handle_due == later


def test_it_publishes_events_after_commit(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[events.OrderEvent] = []
    events.subscribe(seen.append)
    try:
        order = bring_to(world, Status.SUBMITTED)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            actions.accept(order, actor=None)
        assert seen == [] or all(e.action == "submit" for e in seen)
        for callback in callbacks:
            callback()
        assert [e.action for e in seen][-1] == "accept"
        assert seen[-1].to_status == Status.ACCEPTED
    finally:
        events.unsubscribe(seen.append)


def test_it_numbers_orders_by_local_date(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    assert order.number.startswith("YB")
    assert order.number[2:10].isdigit()
    assert WorkOrder.objects.get(number=order.number) == order
