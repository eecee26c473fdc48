"""The sweep warns at 80 % and escalates at and after the deadline, each exactly once, and
never while the clock is paused (suspended, or an extension request waiting)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from yunbao.notify.models import Channel, Endpoint, Message
from yunbao.sla.models import AlertLevel, SlaAlert
from yunbao.sla.sweep import Directory, _fire, candidates, sweep
from yunbao.sla.tests.helpers import DUE, ESC2, SECOND, WARN, T, dispatched, fresh, submitted
from yunbao.workorders import actions


@pytest.fixture(autouse=True)
def _notify_settings(settings: Any) -> None:
    # Messages are queued, not sent: these tests look at the outbox.
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = False
    settings.YUNBAO_NOTIFY_EMAIL = False
    settings.YUNBAO_SLA_WARN_SHARE = 0.8
    settings.YUNBAO_SLA_ESCALATE2_SHARE = 0.5


@pytest.fixture
def staffed(world: Any) -> Any:
    """Carol leads unit one; bob, carol, dave and alice each have a webhook."""
    world.unit1.leader = world.users["carol"]
    world.unit1.save()
    for name in ("bob", "carol", "dave", "alice", "olga"):
        Endpoint.objects.create(
            kind=Channel.WEBHOOK,
            address=f"https://{name}.example/hook",
            secret="s",
            user=world.users[name],
        )
    return world


def alerts(order: Any) -> list[tuple[str, str, list[str]]]:
    return [
        (a.stage, a.level, a.recipients)
        for a in SlaAlert.objects.filter(order=order).order_by("fired_at", "id")
    ]


def messages(order: Any) -> list[tuple[str, str]]:
    return [
        (m.event, m.recipient.username if m.recipient else "")
        for m in Message.objects.filter(order=order).order_by("pk").select_related("recipient")
        if m.event.startswith("sla_")
    ]


def test_it_warns_the_worker_once_at_80_percent_and_not_before(staffed: Any) -> None:
    order = dispatched(staffed)
    assert sweep(WARN - SECOND).total == 0
    assert alerts(order) == []

    result = sweep(WARN + SECOND)
    assert (result.warnings, result.escalations1, result.escalations2) == (1, 0, 0)
    assert alerts(order) == [("handle", "warning", ["bob"])]
    assert messages(order) == [("sla_warning", "bob")]
    message = Message.objects.get(order=order, event="sla_warning")
    assert order.number in message.subject
    assert message.payload["data"]["level"] == "warning"

    # A re-run, later but before the deadline, fires nothing new.
    assert sweep(WARN + timedelta(minutes=5)).total == 0
    assert len(messages(order)) == 1


def test_it_escalates_to_the_leader_at_breach_and_to_the_manager_later_once_each(
    staffed: Any,
) -> None:
    order = dispatched(staffed)
    sweep(WARN + SECOND)
    assert sweep(DUE).total == 0  # due at DUE exactly: not yet overdue

    result = sweep(DUE + SECOND)
    assert (result.warnings, result.escalations1, result.escalations2) == (0, 1, 0)
    assert sweep(DUE + timedelta(minutes=30)).total == 0
    assert sweep(ESC2 - SECOND).total == 0

    result = sweep(ESC2 + SECOND)
    assert (result.warnings, result.escalations1, result.escalations2) == (0, 0, 1)
    assert sweep(ESC2 + timedelta(hours=5)).total == 0
    assert alerts(order) == [
        ("handle", "warning", ["bob"]),
        ("handle", "escalation1", ["carol"]),
        ("handle", "escalation2", ["dave"]),
    ]
    assert messages(order) == [
        ("sla_warning", "bob"),
        ("sla_escalation", "carol"),
        ("sla_escalation", "dave"),
    ]


def test_an_order_first_seen_long_overdue_is_escalated_twice_but_not_warned(
    staffed: Any,
) -> None:
    order = dispatched(staffed)
    result = sweep(ESC2 + timedelta(hours=1))
    assert (result.warnings, result.escalations1, result.escalations2) == (0, 1, 1)
    assert {level for _, level, _ in alerts(order)} == {"escalation1", "escalation2"}


def test_nothing_fires_while_suspended_and_the_resumed_deadline_is_watched_afresh(
    staffed: Any,
) -> None:
    held = dispatched(staffed)
    actions.suspend(held, actor=staffed.users["carol"], note="等批复", at=T + timedelta(minutes=30))
    order = dispatched(staffed)
    actions.suspend(
        order, actor=staffed.users["carol"], note="等批复", at=T + timedelta(minutes=10)
    )
    actions.resume(order, actor=staffed.users["carol"], at=T + timedelta(minutes=40))
    order = fresh(order)
    new_due = DUE + timedelta(minutes=30)  # moved by the half hour spent suspended
    assert order.handle_due == new_due

    # The warning point moved with the deadline (by the half hour suspended): nothing at
    # the old deadline, the warning half an hour after the old warning point; the
    # suspended order is silent throughout.
    assert sweep(DUE + SECOND).total == 0
    result = sweep(WARN + timedelta(minutes=30) + SECOND)
    assert (result.warnings, result.escalations1) == (1, 0)
    assert sweep(new_due + SECOND).escalations1 == 1
    assert sweep(ESC2 + timedelta(hours=5)).escalations2 == 1
    assert [(a.level, a.due) for a in SlaAlert.objects.filter(order=order)] == [
        ("escalation2", new_due),
        ("escalation1", new_due),
        ("warning", new_due),
    ]
    assert alerts(held) == []


def test_nothing_fires_while_an_extension_waits_and_the_new_deadline_warns_again(
    staffed: Any,
) -> None:
    order = dispatched(staffed)
    assert sweep(WARN + SECOND).warnings == 1
    asked = WARN + timedelta(minutes=2)
    until = T + timedelta(hours=10)
    actions.request_change(
        order, actor=staffed.users["bob"], kind="extension", note="需要吊车", until=until, at=asked
    )
    assert fresh(order).paused_at == asked
    # Long past the old deadline, but the clock waits for the supervisor: nothing fires.
    assert sweep(ESC2 + timedelta(hours=1)).total == 0

    decided = ESC2 + timedelta(hours=2)
    request = fresh(order).requests.get()
    actions.decide_request(request, actor=staffed.users["carol"], approve=True, at=decided)
    order = fresh(order)
    assert order.handle_due == until
    # New warning point: the approval + 80 % of (until − approval) = T + 5 h + 4 h.
    assert sweep(T + timedelta(hours=9) - SECOND).total == 0
    assert sweep(T + timedelta(hours=9) + SECOND).warnings == 1
    assert [(level, a.due) for level, a in _levels_and_alerts(order)] == [
        ("warning", DUE),
        ("warning", until),
    ]
    assert messages(order) == [("sla_warning", "bob"), ("sla_warning", "bob")]


def _levels_and_alerts(order: Any) -> list[tuple[str, SlaAlert]]:
    return [(a.level, a) for a in SlaAlert.objects.filter(order=order).order_by("fired_at")]


def test_a_conflicting_row_wins_and_the_batch_notifies_nothing(staffed: Any) -> None:
    """What a concurrent sweep (or a retried task) looks like: the row already exists."""
    order = dispatched(staffed)
    assert order.handle_due is not None
    SlaAlert.objects.create(
        order=order,
        stage="handle",
        due=order.handle_due,
        level=AlertLevel.WARNING,
        fired_at=WARN,
        batch=uuid.uuid4(),
    )
    # Past the anti-join (the candidate list was read before the other sweep committed).
    fired, sent = _fire(
        AlertLevel.WARNING, "handle", [(order.pk, order.handle_due)], WARN, Directory.load()
    )
    assert (fired, sent) == (0, 0)
    assert SlaAlert.objects.filter(order=order).count() == 1
    assert messages(order) == []


def test_an_order_that_moved_since_the_candidate_query_is_skipped(staffed: Any) -> None:
    order = dispatched(staffed)
    rows = candidates(AlertLevel.WARNING, "handle", WARN + SECOND)
    assert rows == [(order.pk, order.handle_due)]
    actions.start(order, actor=staffed.users["bob"], at=WARN)
    actions.finish(order, actor=staffed.users["bob"], note="已清理", at=WARN, photos=[_photo()])
    assert _fire(AlertLevel.WARNING, "handle", rows, WARN + SECOND, Directory.load()) == (0, 0)
    assert alerts(order) == []


def _photo() -> Any:
    from yunbao.testing import stored_photo

    return stored_photo()


def test_without_a_worker_the_leader_is_warned_and_without_a_unit_the_dispatchers(
    staffed: Any,
) -> None:
    no_worker = dispatched(staffed, worker=None)
    waiting = submitted(staffed, T)  # accept stage: no unit yet
    waiting2 = submitted(staffed, T, street=2)
    sweep(WARN + SECOND)
    assert alerts(no_worker) == [("handle", "warning", ["carol"])]
    # Each street's dispatcher hears of their own street's orders only.
    assert alerts(waiting) == [("accept", "warning", ["alice"])]
    assert alerts(waiting2) == [("accept", "warning", ["olga"])]


def test_a_unit_without_a_leader_escalates_to_its_supervisors(world: Any) -> None:
    order = dispatched(world)
    sweep(DUE + SECOND)
    assert alerts(order) == [("handle", "escalation1", ["carol"])]


def test_closed_and_rejected_orders_are_never_alerted(staffed: Any) -> None:
    order = submitted(staffed, T)
    actions.reject(order, actor=None, note="不属于受理范围", at=T + timedelta(minutes=1))
    assert sweep(ESC2 + timedelta(days=3)).total == 0


def test_the_command_sweeps_once_and_prints_the_counts(staffed: Any) -> None:
    dispatched(staffed)
    out = StringIO()
    at = (DUE + SECOND).isoformat()
    with translation.override("en"):
        call_command("sla_sweep", at=at, stdout=out)
    assert "Warnings: 0, escalations to unit leaders: 1, to managers: 0" in out.getvalue()
    assert SlaAlert.objects.count() == 1
    out = StringIO()
    call_command("sla_sweep", at=at, stdout=out)
    assert SlaAlert.objects.count() == 1


def test_the_task_is_on_the_minute_schedule_and_runs_the_sweep(staffed: Any) -> None:
    from yunbao.jobs.schedule import SCHEDULE
    from yunbao.sla.tasks import sweep_task

    periodic = SCHEDULE["sla-sweep"]
    assert (periodic.task_path, periodic.every) == (
        "yunbao.sla.tasks.sweep_task",
        timedelta(minutes=1),
    )
    result = sweep_task.enqueue()  # the immediate backend in tests: runs now, at the real now
    assert result.return_value == {
        "warning": 0,
        "escalation1": 0,
        "escalation2": 0,
        "notifications": 0,
    }


def test_a_flood_for_the_same_people_is_one_digest_per_batch(staffed: Any) -> None:
    orders = [dispatched(staffed) for _ in range(5)]
    result = sweep(DUE + SECOND)
    assert result.escalations1 == 5
    # Five alerts for carol at once: one message listing them, not five.
    (message,) = Message.objects.filter(event="sla_escalation")
    assert message.recipient == staffed.users["carol"]
    assert sorted(message.payload["data"]["orders"]) == sorted(o.number for o in orders)
    assert all(o.number in message.body for o in orders)
    assert SlaAlert.objects.filter(level="escalation1").count() == 5
    assert sweep(DUE + timedelta(minutes=1)).total == 0
    assert Message.objects.filter(event="sla_escalation").count() == 1
