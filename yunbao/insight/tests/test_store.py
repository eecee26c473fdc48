"""The aggregates kept in each move's transaction equal a full recomputation after any
sequence of moves (hypothesis), roll back with a refused move, and the drill-down lists
exactly the orders counted."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from yunbao.insight import store
from yunbao.insight.drilldown import orders_behind, scan_counts, scan_durations
from yunbao.insight.indicators import INDICATORS, Filter, counts, durations
from yunbao.insight.models import Cell, DirtyOrder, OrderFacts
from yunbao.insight.store import catch_up, recompute
from yunbao.insight.tests.helpers import MONDAY, aggregates, at, report_at
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions
from yunbao.workorders.actions import TransitionError
from yunbao.workorders.models import WorkOrder
from yunbao.workorders.tests.helpers import do
from yunbao.workorders.tests.test_transitions import PLAYERS
from yunbao.workorders.transitions import TRANSITIONS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


def test_aggregates_equal_a_recomputation_after_any_moves(world: World) -> None:
    class Moves(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.orders: list[WorkOrder] = []
            self.clock = at(8)

        @rule(street=st.sampled_from([1, 2]), minutes=st.integers(0, 600))
        def report(self, street: int, minutes: int) -> None:
            self.clock += dt.timedelta(minutes=minutes)
            self.orders.append(report_at(world, self.clock, street=street))

        @rule(
            which=st.integers(0, 7),
            action=st.sampled_from(sorted(TRANSITIONS)),
            role=st.sampled_from(sorted(PLAYERS)),
            minutes=st.integers(0, 3000),
        )
        def move(self, which: int, action: str, role: str, minutes: int) -> None:
            if not self.orders:
                return
            order = self.orders[which % len(self.orders)]
            self.clock += dt.timedelta(minutes=minutes)
            who = PLAYERS[role]
            with contextlib.suppress(TransitionError):
                do(world, action, order, None if who is None else world.users[who], at=self.clock)

        def teardown(self) -> None:
            kept = aggregates()
            recompute()
            assert aggregates() == kept

    run_state_machine_as_test(
        Moves,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


def _some_history(world: World) -> list[WorkOrder]:
    u = world.users
    closed = report_at(world, at(9))
    actions.accept(closed, actor=u["alice"], at=at(9, 10))
    actions.dispatch(closed, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=at(9, 20))
    actions.start(closed, actor=u["bob"], at=at(9, 30))
    actions.finish(closed, actor=u["bob"], note="好了", photos=[stored_photo()], at=at(13))
    actions.verify(closed, actor=u["carol"], at=at(13, 30))
    voided = report_at(world, at(10))
    actions.accept(voided, actor=u["alice"], at=at(10, 5))
    actions.void(voided, actor=u["dave"], note="重复", at=at(11))
    rejected = report_at(world, at(11), street=2)
    actions.reject(rejected, actor=u["dave"], note="不受理", at=at(11, 5))
    waiting = report_at(world, at(12), street=2)
    catch_up()
    return [closed, voided, rejected, waiting]


def test_recompute_command_rebuilds_the_same_figures(world: World) -> None:
    _some_history(world)
    kept = aggregates()
    assert kept[0]
    assert kept[1]
    call_command("recompute_indicators", verbosity=0)
    assert aggregates() == kept
    assert OrderFacts.objects.count() == WorkOrder.objects.count()


def test_a_refused_move_leaves_the_aggregates_alone(world: World) -> None:
    order = report_at(world, at(9))
    before = aggregates()
    with pytest.raises(TransitionError):
        actions.verify(order, actor=world.users["carol"], at=at(10))
    assert aggregates() == before


def test_drill_down_lists_the_orders_behind_each_number(world: World) -> None:
    closed, voided, rejected, waiting = _some_history(world)
    f = Filter(start=MONDAY, end=MONDAY)
    ids = lambda qs: set(qs.values_list("pk", flat=True))  # noqa: E731
    assert ids(orders_behind("accurate_filing", f, "denominator")) == {closed.pk, voided.pk}
    assert ids(orders_behind("accurate_filing", f)) == {closed.pk}
    assert ids(orders_behind("valid_report_rate", f, "denominator")) == {
        closed.pk, voided.pk, rejected.pk, waiting.pk
    }  # fmt: skip
    assert ids(orders_behind("on_time_handling", f, "denominator")) == {closed.pk}
    assert ids(orders_behind("on_time_handling", f)) == set()  # finished late
    assert ids(orders_behind("closing_rate", Filter.of(area=world.street2))) == set()
    # Callers narrow it to what the person may see: Olga (street two) sees only her street.
    visible = orders_behind("valid_report_rate", f, "denominator").filter(
        pk__in=WorkOrder.objects.visible_to(world.users["olga"])
    )
    assert ids(visible) == {rejected.pk, waiting.pk}
    # Every number's drill-down is as large as the number where each order counts once.
    for key, ind in INDICATORS.items():
        if key in {"mean_rating"}:
            continue
        c = counts(f)
        assert orders_behind(key, f, "denominator").count() <= max(ind.den(c), 0), key


def test_the_scan_baseline_agrees_with_the_aggregates(world: World) -> None:
    _some_history(world)
    for f in (
        Filter(),
        Filter(start=MONDAY, end=MONDAY),
        Filter(start=MONDAY + dt.timedelta(days=1)),
        Filter.of(area=world.street1),
        Filter.of(area=world.grid2),
        Filter.of(unit=world.unit1),
    ):
        assert scan_counts(f) == counts(f), f
        assert scan_durations(f) == durations(f), f


def test_a_move_only_marks_the_order_and_the_job_counts_it(world: World) -> None:
    order = report_at(world, at(9))
    actions.accept(order, actor=world.users["alice"], at=at(9, 10))
    # Two moves, one mark: the move's own transaction wrote nothing else of ours.
    assert list(DirtyOrder.objects.values_list("order_id", "version")) == [(order.pk, 2)]
    assert not Cell.objects.exists()
    assert not OrderFacts.objects.exists()

    assert catch_up() == 1

    assert not DirtyOrder.objects.exists()
    assert OrderFacts.objects.filter(order_id=order.pk).exists()
    assert counts(Filter())["reports"] == 1
    assert catch_up() == 0


def test_an_order_moved_while_it_is_counted_stays_queued(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = report_at(world, at(9))
    counted = store.refresh_order

    def moved_meanwhile(order_id: int) -> None:
        counted(order_id)
        # Another request moves the order after it was read, before the marks are cleared.
        actions.accept(order, actor=world.users["alice"], at=at(9, 10))

    monkeypatch.setattr(store, "refresh_order", moved_meanwhile)
    assert catch_up(limit=1) == 1
    assert list(DirtyOrder.objects.values_list("order_id", "version")) == [(order.pk, 2)]

    assert counts(Filter())["filed"] == 0  # counted as it was read: not yet accepted

    monkeypatch.setattr(store, "refresh_order", counted)
    assert catch_up() == 1
    assert not DirtyOrder.objects.exists()
    assert counts(Filter())["filed"] == 1
    kept = aggregates()
    recompute()
    assert aggregates() == kept
