"""An order's time-limit state, per order and as queryset filters that agree with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from yunbao.sla.state import DUE_SOON, OK, OVERDUE, PAUSED, at_risk, due_soon, overdue, sla_state
from yunbao.sla.tests.helpers import DUE, ESC2, SECOND, WARN, T, dispatched, fresh, submitted
from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder


@pytest.fixture(autouse=True)
def _shares(settings: Any) -> None:
    settings.YUNBAO_SLA_WARN_SHARE = 0.8
    settings.YUNBAO_SLA_ESCALATE2_SHARE = 0.5
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = False


@pytest.mark.parametrize(
    ("moment", "level", "remaining"),
    [
        (T + timedelta(minutes=1), OK, timedelta(minutes=119)),
        (WARN - SECOND, OK, timedelta(minutes=24, seconds=1)),
        (WARN, DUE_SOON, timedelta(minutes=24)),
        (DUE, DUE_SOON, timedelta(0)),
        (DUE + SECOND, OVERDUE, -SECOND),
        (ESC2, OVERDUE, -timedelta(hours=1)),
    ],
)
def test_it_tells_the_level_and_the_time_left(
    world: Any, moment: Any, level: str, remaining: timedelta
) -> None:
    order = dispatched(world)
    state = sla_state(order, moment)
    assert state is not None
    assert (state.level, state.stage, state.due, state.remaining) == (
        level,
        "handle",
        DUE,
        remaining,
    )
    assert state.warn_at == WARN


def test_the_warning_share_is_a_setting(world: Any, settings: Any) -> None:
    settings.YUNBAO_SLA_WARN_SHARE = 0.5
    order = dispatched(world)
    state = sla_state(order, T + timedelta(hours=1))
    assert state is not None
    assert state.level == DUE_SOON


def test_a_suspended_order_is_paused_with_the_time_it_had_left(world: Any) -> None:
    order = dispatched(world)
    actions.suspend(order, actor=world.users["carol"], note="等批复", at=T + timedelta(minutes=30))
    state = sla_state(fresh(order), ESC2 + timedelta(days=2))
    assert state is not None
    assert (state.level, state.stage, state.remaining) == (PAUSED, "handle", timedelta(hours=1.5))


def test_an_order_waiting_for_an_extension_is_paused(world: Any) -> None:
    order = dispatched(world)
    actions.request_change(
        order,
        actor=world.users["bob"],
        kind="extension",
        note="需要吊车",
        until=T + timedelta(hours=6),
        at=WARN,
    )
    state = sla_state(fresh(order), ESC2)
    assert state is not None
    assert (state.level, state.remaining) == (PAUSED, timedelta(minutes=24))


def test_a_finished_or_rejected_order_has_no_state(world: Any) -> None:
    order = submitted(world)
    actions.reject(order, actor=None, note="不属于受理范围", at=T + timedelta(minutes=1))
    assert sla_state(order, ESC2) is None


def test_the_queryset_filters_agree_with_the_badge(world: Any) -> None:
    """Orders in every stage and state, classified in SQL and in Python at several moments."""
    handle = dispatched(world)
    accept = submitted(world, T)
    check = dispatched(world, T - timedelta(hours=1))
    actions.start(check, actor=world.users["bob"], at=T - timedelta(minutes=30))
    actions.finish(check, actor=world.users["bob"], note="已清理", at=T, photos=[_photo()])
    suspended = dispatched(world)
    actions.suspend(
        suspended, actor=world.users["carol"], note="等批复", at=T + timedelta(minutes=1)
    )
    orders = [handle, accept, check, suspended]
    everything = WorkOrder.objects.filter(pk__in=[o.pk for o in orders])
    for moment in (T + timedelta(minutes=1), WARN - SECOND, WARN + SECOND, DUE + SECOND, ESC2):
        states = {o.pk: sla_state(fresh(o), moment) for o in orders}
        expect_soon = {pk for pk, s in states.items() if s and s.level == DUE_SOON}
        expect_late = {pk for pk, s in states.items() if s and s.level == OVERDUE}
        assert set(due_soon(everything, moment).values_list("pk", flat=True)) == expect_soon
        assert set(overdue(everything, moment).values_list("pk", flat=True)) == expect_late
        assert set(at_risk(everything, moment).values_list("pk", flat=True)) == (
            expect_soon | expect_late
        )
    # The check stage (handled at T) runs the same clock: due soon at WARN + 1 s as well.
    assert sla_state(fresh(check), WARN + SECOND).level == DUE_SOON  # type: ignore[union-attr]


def _photo() -> Any:
    from yunbao.testing import stored_photo

    return stored_photo()
