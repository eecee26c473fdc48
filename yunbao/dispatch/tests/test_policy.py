"""The decision: automatic end to end, every reason to leave it to the dispatcher, the
reporter's category and the classifier's doubt, corrections, the event hook, the benchmark."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench.dispatch import run as run_bench
from yunbao.catalog.models import Category, Kind
from yunbao.dispatch import actions, policy
from yunbao.dispatch.actions import DISPATCH_FAILED, auto_dispatch, on_order_event
from yunbao.dispatch.models import AutoThreshold, Correction, DispatchDecision, RoutingRule
from yunbao.dispatch.policy import clear_caches, decide
from yunbao.intake.actions import ReportInput, submit_report
from yunbao.intake.models import DuplicateSuggestion
from yunbao.org.models import Shift
from yunbao.testing import World
from yunbao.workorders import actions as orders
from yunbao.workorders import events
from yunbao.workorders.events import OrderEvent
from yunbao.workorders.models import Status, WorkOrder

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class FakePrediction:
    category_code: str
    probability: float
    top: list[tuple[str, float]] = field(default_factory=list)


class FakeClassifier:
    """Says the same about every text, as the tests set it."""

    version = 7

    def __init__(self, code: str, probability: float) -> None:
        self.prediction = FakePrediction(code, probability, [(code, probability), ("X", 0.01)])
        self.texts: list[str] = []

    def predict_one(self, text: str) -> FakePrediction:
        self.texts.append(text)
        return self.prediction


Classify = Callable[[str, float], FakeClassifier]


@pytest.fixture(autouse=True)
def _fresh_caches(settings: Any) -> Iterator[None]:
    settings.YUNBAO_AUTO_DISPATCH = True
    settings.YUNBAO_AUTO_DISPATCH_THRESHOLD = 0.8
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def classify(monkeypatch: pytest.MonkeyPatch) -> Classify:
    """Install a fake classifier that predicts `code` with `probability`."""

    def install(code: str, probability: float) -> FakeClassifier:
        fake = FakeClassifier(code, probability)
        monkeypatch.setattr(policy, "current_classifier", lambda: fake)
        return fake

    return install


@pytest.fixture
def town(world: World, classify: Classify) -> World:
    """Street one's test category goes to unit one; Bob is on duty all week round; the
    classifier is sure it is that category; Carol leads unit one."""
    RoutingRule.objects.create(category=world.category, area=world.street1, unit=world.unit1)
    for day in range(7):
        Shift.objects.create(user=world.users["bob"], weekday=day, start="00:00", end="00:00")
    world.unit1.leader = world.users["carol"]
    world.unit1.save()
    classify(world.category.code, 0.95)
    return world


def report(world: World, text: str = "路边一堆垃圾没人清理", category: str = "") -> WorkOrder:
    """A resident's report at grid one, through intake."""
    lat, lon = world.point1()
    result = submit_report(
        ReportInput(key=uuid.uuid4().hex, lat=lat, lon=lon, description=text, category=category),
        actor=world.users["erin"],
    )
    return result.order


def other_category() -> Category:
    return Category.objects.create(
        code="E9802",
        kind=Kind.EVENT,
        major_code="98",
        major_name="其他",
        minor_code="02",
        name="其他事件",
        name_en="Something else",
    )


# --- The automatic path --------------------------------------------------------------------


def test_it_accepts_and_dispatches_a_sure_report_on_its_own(town: World) -> None:
    order = report(town)
    assert order.status == Status.SUBMITTED
    assert order.category is None

    decision = auto_dispatch(order)

    order.refresh_from_db()
    assert order.status == Status.DISPATCHED
    assert order.category == town.category
    assert order.unit == town.unit1
    assert order.worker == town.users["bob"]
    assert order.handle_due is not None
    accept, dispatch = order.timeline.order_by("at", "id")[1:]
    assert (accept.action, accept.role, accept.actor) == ("accept", "system", None)
    assert (dispatch.action, dispatch.role, dispatch.actor) == ("dispatch", "system", None)
    assert "E9901" in accept.note
    assert dispatch.data["unit"] == "u1"
    assert dispatch.data["worker"] == "bob"
    assert dispatch.data["automatic"] is True
    assert dispatch.data["category"]["code"] == "E9901"
    assert dispatch.data["category"]["source"] == "classifier"
    assert dispatch.data["category"]["confidence"] == 0.95
    assert dispatch.data["grid"]["path"] == ["测试区", "一街", "一村", "一格"]
    assert dispatch.data["rule"]["unit"] == "u1"
    assert dispatch.data["ranking"][0]["worker"] == "bob"
    assert "distance_m" in dispatch.data["ranking"][0]

    assert decision.automatic is True
    assert decision.category == town.category
    assert decision.confidence == 0.95
    assert decision.unit == town.unit1
    assert decision.worker == town.users["bob"]
    assert decision.model_version == 7
    assert decision.rule == RoutingRule.objects.get()
    assert decision.reasons["fallbacks"] == []
    assert decision.reasons["automatic"] is True
    assert decision.reasons["assignment"]["ranking"][0]["workload"] == 0
    assert decision.reasons["threshold"] == {"value": 0.8, "from": "setting", "enabled": True}


def test_it_decides_on_new_orders_from_the_order_event(
    town: World, django_capture_on_commit_callbacks: Any
) -> None:
    events.subscribe(on_order_event)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            lat, lon = town.point1()
            order = orders.submit(actor=None, lat=lat, lon=lon, description="垃圾桶满了")
    finally:
        events.unsubscribe(on_order_event)

    order.refresh_from_db()
    assert order.status == Status.DISPATCHED
    assert order.worker == town.users["bob"]
    assert DispatchDecision.objects.get(order=order).automatic is True


def test_it_never_lets_a_failing_decision_break_the_report(
    town: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = report(town)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "decide", broken)
    entry = order.timeline.get()
    on_order_event(OrderEvent(order.pk, entry.pk, "submit", "", Status.SUBMITTED))

    order.refresh_from_db()
    assert order.status == Status.SUBMITTED
    assert not DispatchDecision.objects.exists()


def test_it_undoes_the_accept_when_the_dispatch_is_refused(
    town: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = report(town)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise orders.InvalidInput("Bob left the unit a second ago.")

    monkeypatch.setattr(orders, "dispatch", refuse)
    decision = auto_dispatch(order)

    assert order.status == Status.SUBMITTED
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED
    assert order.category is None
    assert order.timeline.count() == 1
    assert decision.automatic is False
    assert decision.reasons["fallbacks"] == [
        {"code": DISPATCH_FAILED, "text": "Bob left the unit a second ago."}
    ]


# --- Every reason to leave it to the dispatcher --------------------------------------------


def codes(decision: DispatchDecision) -> list[str]:
    return [f["code"] for f in decision.reasons["fallbacks"]]


def test_it_leaves_everything_to_the_dispatcher_when_automation_is_off(
    town: World, settings: Any
) -> None:
    settings.YUNBAO_AUTO_DISPATCH = False
    order = report(town)

    decision = auto_dispatch(order)

    order.refresh_from_db()
    assert order.status == Status.SUBMITTED
    assert codes(decision) == ["auto_disabled"]
    assert decision.automatic is False
    # The suggestion is still made, for the dispatcher to take with one click.
    assert decision.unit == town.unit1
    assert decision.worker == town.users["bob"]
    assert decision.category == town.category


def test_it_wants_the_global_confidence_threshold(town: World, classify: Classify) -> None:
    classify(town.category.code, 0.79)
    order = report(town)

    decision = auto_dispatch(order)

    assert codes(decision) == ["low_confidence"]
    assert decision.reasons["fallbacks"][0]["threshold"] == 0.8
    assert decision.reasons["fallbacks"][0]["threshold_from"] == "setting"
    assert "79%" in decision.reasons["fallbacks"][0]["text"]
    assert WorkOrder.objects.get(pk=order.pk).status == Status.SUBMITTED


def test_it_uses_the_categorys_own_threshold_when_it_has_one(
    town: World, classify: Classify
) -> None:
    stricter = AutoThreshold.objects.create(category=town.category, threshold=0.97)
    order = report(town)

    plan = decide(order)
    assert plan.fallbacks == ["low_confidence"]
    assert plan.details["low_confidence"]["threshold_from"] == "category"
    assert plan.threshold is not None
    assert plan.threshold.value == 0.97

    # A lower threshold of its own lets through what the global one would not.
    stricter.threshold = 0.5
    stricter.save()
    classify(town.category.code, 0.6)
    assert decide(order).automatic is True

    stricter.enabled = False
    stricter.save()
    assert decide(order).fallbacks == ["category_manual"]


def test_it_sends_an_order_outside_every_grid_to_the_dispatcher(town: World) -> None:
    RoutingRule.objects.create(category=town.category, unit=town.unit1)  # district-wide
    order = orders.submit(actor=None, lat=23.03, lon=113.03, description="垃圾", allow_outside=True)
    assert order.grid is None

    decision = auto_dispatch(order)

    assert "outside_grid" in codes(decision)
    assert decision.reasons["grid"]["code"] == "T00"  # filed under the district
    assert decision.unit == town.unit1
    assert WorkOrder.objects.get(pk=order.pk).status == Status.SUBMITTED


def test_it_sends_a_likely_duplicate_to_the_dispatcher(town: World) -> None:
    first = report(town, "路边一堆垃圾没人清理")
    auto_dispatch(first)
    # The same words at the same spot without a category: intake suggests, not merges.
    second = report(town, "路边一堆垃圾没人清理")
    assert DuplicateSuggestion.objects.filter(order=second, candidate=first).exists()

    decision = auto_dispatch(second)

    assert codes(decision) == ["likely_duplicate"]
    assert WorkOrder.objects.get(pk=second.pk).status == Status.SUBMITTED


def test_it_leaves_a_merged_report_alone(town: World) -> None:
    first = report(town, "路边一堆垃圾没人清理", category="E9901")
    second = report(town, "路边一堆垃圾没人清理", category="E9901")
    second.refresh_from_db()
    assert second.status == Status.MERGED

    decision = auto_dispatch(second)

    assert codes(decision) == ["merged"]
    assert "alert" not in decision.reasons
    assert WorkOrder.objects.get(pk=second.pk).status == Status.MERGED
    assert WorkOrder.objects.get(pk=first.pk).status == Status.SUBMITTED


def test_it_needs_a_rule_naming_a_unit(town: World) -> None:
    RoutingRule.objects.all().delete()
    order = report(town)

    decision = auto_dispatch(order)

    assert codes(decision) == ["no_rule"]
    assert decision.unit is None
    assert decision.worker is None
    assert decision.reasons["route"] == {"rule": None, "matched": 0}


def test_it_alerts_the_unit_leader_when_nobody_is_on_duty(
    town: World, caplog: pytest.LogCaptureFixture
) -> None:
    Shift.objects.all().delete()
    order = report(town)
    logger = logging.getLogger("yunbao.dispatch.actions")
    logger.addHandler(caplog.handler)  # the yunbao logger does not propagate to the root
    try:
        decision = auto_dispatch(order)
    finally:
        logger.removeHandler(caplog.handler)

    assert codes(decision) == ["nobody_on_duty"]
    assert decision.unit == town.unit1
    assert decision.worker is None
    alert = decision.reasons["alert"]
    assert alert["unit"] == "u1"
    assert alert["leader"] == "carol"
    assert alert["reason"] == "nobody_on_duty"
    assert alert["text"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(order.number in r.getMessage() and "carol" in r.getMessage() for r in warnings)
    assert WorkOrder.objects.get(pk=order.pk).status == Status.SUBMITTED


def test_it_needs_a_category(town: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy, "current_classifier", lambda: None)
    order = report(town)

    decision = auto_dispatch(order)

    assert codes(decision) == ["no_category", "no_rule"]
    assert decision.category is None
    assert decision.reasons["category"]["source"] is None


def test_it_treats_a_broken_or_confused_classifier_as_no_category(
    town: World, monkeypatch: pytest.MonkeyPatch, classify: Classify
) -> None:
    class Broken:
        version = 1

        def predict_one(self, text: str) -> Any:
            raise ValueError("corrupt model")

    monkeypatch.setattr(policy, "current_classifier", lambda: Broken())
    order = report(town)
    assert "no_category" in decide(order).fallbacks

    classify("E0000", 0.99)  # a code the catalogue does not have
    assert "no_category" in decide(order).fallbacks


def test_it_only_decides_on_orders_still_waiting_to_be_accepted(town: World) -> None:
    order = report(town)
    orders.accept(order, actor=town.users["alice"], category=town.category)

    decision = auto_dispatch(order)

    assert codes(decision) == ["not_submitted"]
    order.refresh_from_db()
    assert order.status == Status.ACCEPTED


def test_it_lists_every_failed_condition_at_once(
    town: World, settings: Any, classify: Classify
) -> None:
    settings.YUNBAO_AUTO_DISPATCH = False
    Shift.objects.all().delete()
    classify(town.category.code, 0.5)
    order = report(town)

    plan = decide(order)

    assert plan.fallbacks == ["auto_disabled", "low_confidence", "nobody_on_duty"]
    assert [code for code, _text in plan.fallback_texts()] == plan.fallbacks
    assert all(text for _code, text in plan.fallback_texts())


# --- The reporter's category ---------------------------------------------------------------


def test_it_trusts_the_reporters_category_and_flags_a_confident_disagreement(
    town: World, classify: Classify
) -> None:
    fake = classify("E9802", 0.93)
    order = report(town, "井盖丢了", category="E9901")

    decision = auto_dispatch(order)

    assert fake.texts == ["井盖丢了"]  # the classifier still had its say
    assert decision.reasons["category"]["source"] == "reporter"
    assert decision.confidence == 1.0
    assert decision.reasons["mismatch"] == {
        "reported": "E9901",
        "predicted": "E9802",
        "probability": 0.93,
    }
    # A flag for the dispatcher, not a reason to hold the order.
    assert decision.automatic is True


def test_it_does_not_flag_a_doubtful_or_agreeing_classifier(
    town: World, classify: Classify
) -> None:
    classify("E9802", 0.85)
    assert "mismatch" not in decide(report(town, category="E9901")).reasons
    classify("E9901", 0.99)
    assert "mismatch" not in decide(report(town, "另一处", category="E9901")).reasons


# --- Corrections ---------------------------------------------------------------------------


def test_it_records_a_correction_when_a_dispatcher_accepts_another_category(
    town: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.YUNBAO_AUTO_DISPATCH = False
    order = report(town, "井盖丢了")
    decision = auto_dispatch(order)
    assert decision.category == town.category
    other = other_category()

    events.subscribe(on_order_event)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            orders.accept(order, actor=town.users["alice"], category=other)
    finally:
        events.unsubscribe(on_order_event)

    correction = Correction.objects.get()
    assert correction.order == order
    assert correction.predicted == town.category
    assert correction.corrected == other
    assert correction.actor == town.users["alice"]
    assert correction.text == "井盖丢了"
    # Reported twice (the console and the event): kept once.
    assert actions.record_correction(order, town.category, other, town.users["alice"]) is None
    assert Correction.objects.count() == 1


def test_it_records_no_correction_for_the_same_category_or_the_machines_accept(
    town: World,
) -> None:
    order = report(town)
    assert actions.record_correction(order, town.category, town.category, None) is None

    auto_dispatch(order)  # the system's accept, with the decision's category
    entry = order.timeline.get(action="accept")
    event = OrderEvent(order.pk, entry.pk, "accept", Status.SUBMITTED, Status.ACCEPTED)
    assert actions.note_correction(event) is None
    assert not Correction.objects.exists()


# --- The benchmark -------------------------------------------------------------------------


def test_it_runs_the_dispatch_benchmark_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    original = policy.current_classifier
    figures = run_bench(smoke=True, stub=True)

    assert figures["decisions_per_s"] > 0
    assert figures["decide_only_per_s"] > 0
    assert figures["ms_per_decision"] > 0
    assert sum(figures["outcomes"].values()) == figures["decisions"]
    assert figures["outcomes"].get("automatic", 0) > 0
    assert 0.99 <= sum(figures["share"].values()) <= 1.01
    assert figures["share"]["assign"] > 0
    assert "decisions" in capsys.readouterr().out
    assert policy.current_classifier is original  # the stub is gone again
