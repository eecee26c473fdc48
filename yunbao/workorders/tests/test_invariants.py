"""Stateful property test: no sequence of moves, by anyone, breaks the order's invariants."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from yunbao.workorders.actions import TransitionError
from yunbao.workorders.models import Status, WorkOrder
from yunbao.workorders.tests.helpers import do, new_order
from yunbao.workorders.tests.test_transitions import PLAYERS, snapshot
from yunbao.workorders.transitions import TRANSITIONS

STAGE_TIMES = ("accepted_at", "dispatched_at", "started_at", "handled_at", "closed_at")
DEADLINES = ("accept_due", "dispatch_due", "handle_due", "check_due")


def check_invariants(order: WorkOrder) -> None:
    order = WorkOrder.objects.get(pk=order.pk)
    rows = list(order.timeline.order_by("at", "id"))
    # The timeline replays to the current state.
    assert rows[0].action == "submit"
    assert rows[0].from_status == ""
    state = ""
    for row in rows:
        assert row.from_status == state, (row.action, row.from_status, state)
        state = row.to_status
    assert state == order.status
    # A closed order has every stage time, in order.
    if order.status == Status.CLOSED:
        times = [getattr(order, name) for name in STAGE_TIMES]
        assert None not in times
        assert times == sorted(times)
    # Deadlines never precede creation.
    for name in DEADLINES:
        due = getattr(order, name)
        assert due is None or due >= order.created_at, name
    assert order.rework_count == sum(r.action in {"rework", "reopen"} for r in rows)
    # At most one request waits, and only a waiting extension pauses the clock.
    pending = list(order.requests.filter(status="pending"))
    assert len(pending) <= 1
    assert (order.paused_at is not None) == any(r.kind == "extension" for r in pending)
    assert (order.status == Status.SUSPENDED) == bool(order.suspended_from)
    if order.status == Status.MERGED:
        assert order.duplicate_of_id is not None


@pytest.mark.django_db
def test_it_keeps_the_invariants_under_any_sequence(world: Any) -> None:
    class OrderMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.order = new_order(world)
            self.clock = self.order.created_at

        @rule(
            action=st.sampled_from(sorted(TRANSITIONS)),
            role=st.sampled_from(sorted(PLAYERS)),
            minutes=st.integers(min_value=0, max_value=3000),
        )
        def move(self, action: str, role: str, minutes: int) -> None:
            self.clock += timedelta(minutes=minutes)
            who = PLAYERS[role]
            actor = None if who is None else world.users[who]
            before = snapshot(self.order)
            try:
                do(world, action, self.order, actor, at=self.clock)
            except TransitionError:
                # A refused move changes nothing.
                assert snapshot(self.order) == before

        @invariant()
        def invariants_hold(self) -> None:
            check_invariants(self.order)

    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
