"""The moves of field work: arrival, proof of the result, requests and their decisions,
and the reporter's reopen — with their clocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import translation

from yunbao.testing import stored_photo
from yunbao.workorders import actions
from yunbao.workorders.actions import InvalidInput, NotAllowed
from yunbao.workorders.models import OrderRequest, PhotoKind, RequestStatus, Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def fresh(order: WorkOrder) -> WorkOrder:
    return WorkOrder.objects.get(pk=order.pk)


def known(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment


# --- Arrival -------------------------------------------------------------------------------


def test_arriving_on_the_spot_is_recorded_without_warning(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    entry = actions.arrive(order, actor=world.users["bob"], lat=order.lat, lon=order.lon)
    assert entry.data["distance_m"] == 0
    assert entry.data["too_far"] is False
    assert entry.note == ""
    assert fresh(order).arrived_at == entry.at
    assert fresh(order).status == Status.IN_PROGRESS


def test_arriving_far_away_is_allowed_but_warned(world: Any, caplog: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    # About 1.1 km north of the report.
    entry = actions.arrive(order, actor=world.users["bob"], lat=order.lat + 0.01, lon=order.lon)
    assert entry.data["too_far"] is True
    assert 1000 < entry.data["distance_m"] < 1200
    assert "m from the reported place" in entry.note
    assert "arrived" in caplog.text


@pytest.mark.parametrize(("lat", "lon"), [(91.0, 113.0), (float("nan"), 113.0), (23.0, 181.0)])
def test_arriving_with_impossible_coordinates_is_refused(
    world: Any, lat: float, lon: float
) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with pytest.raises(InvalidInput):
        actions.arrive(order, actor=world.users["bob"], lat=lat, lon=lon)
    assert fresh(order).arrived_at is None
    assert not order.timeline.filter(action="arrive").exists()


def test_only_the_assigned_worker_arrives(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with pytest.raises(NotAllowed):
        actions.arrive(order, actor=world.users["bill"], lat=order.lat, lon=order.lon)


# --- Finishing needs proof -----------------------------------------------------------------


def test_finishing_without_an_after_photo_is_refused_and_changes_nothing(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with pytest.raises(InvalidInput, match="photo"):
        actions.finish(order, actor=world.users["bob"], note="已清理")
    assert fresh(order).status == Status.IN_PROGRESS


def test_finishing_without_a_note_is_refused(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with pytest.raises(InvalidInput, match="reason"):
        actions.finish(order, actor=world.users["bob"], note="  ", photos=[stored_photo()])
    assert not order.photos.exists()


def test_a_photo_uploaded_earlier_is_the_proof_of_the_finish(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    proof = stored_photo()
    early = actions.add_photo(
        order, actor=world.users["bob"], kind=PhotoKind.AFTER, image=proof.image
    )
    entry = actions.finish(order, actor=world.users["bob"], note="已清理")
    early.refresh_from_db()
    assert early.entry == entry
    assert fresh(order).status == Status.HANDLED


def test_photos_given_to_finish_are_tied_to_its_timeline_row(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    entry = actions.finish(
        order, actor=world.users["bob"], note="已清理", photos=[stored_photo(), stored_photo()]
    )
    assert entry.photos.filter(kind=PhotoKind.AFTER).count() == 2


# --- Requests ------------------------------------------------------------------------------


def test_an_extension_request_pauses_the_clock_and_approval_sets_the_new_deadline(
    world: Any,
) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    due = known(order.handle_due)
    asked = order.timeline.last().at + timedelta(minutes=10)  # type: ignore[union-attr]
    until = due + timedelta(days=2)
    actions.request_change(
        order, actor=world.users["bob"], kind="extension", note="需要吊车", until=until, at=asked
    )
    order = fresh(order)
    assert order.paused_at == asked
    assert not WorkOrder.objects.filter(pk=order.pk).overdue(due + timedelta(hours=5)).exists()
    request = order.requests.get()
    assert request.status == RequestStatus.PENDING
    entry = actions.decide_request(
        request, actor=world.users["carol"], approve=True, at=asked + timedelta(hours=3)
    )
    assert entry.action == "extend"
    order = fresh(order)
    assert order.handle_due == until
    assert order.paused_at is None
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (RequestStatus.APPROVED, world.users["carol"])


def test_a_refused_extension_gives_back_the_time_spent_waiting(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    due = known(order.handle_due)
    asked = order.timeline.last().at + timedelta(minutes=10)  # type: ignore[union-attr]
    actions.request_change(
        order,
        actor=world.users["bob"],
        kind="extension",
        note="需要吊车",
        until=due + timedelta(days=1),
        at=asked,
    )
    request = fresh(order).requests.get()
    actions.decide_request(
        request,
        actor=world.users["carol"],
        approve=False,
        note="今天必须完成",
        at=asked + timedelta(hours=2),
    )
    order = fresh(order)
    assert order.handle_due == due + timedelta(hours=2)
    assert order.paused_at is None
    assert order.status == Status.IN_PROGRESS
    request.refresh_from_db()
    assert request.status == RequestStatus.REFUSED
    assert request.decision_note == "今天必须完成"


def test_an_extension_must_end_after_the_deadline(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with pytest.raises(InvalidInput):
        actions.request_change(
            order,
            actor=world.users["bob"],
            kind="extension",
            note="x",
            until=known(order.handle_due) - timedelta(hours=1),
        )
    with pytest.raises(InvalidInput):
        actions.request_change(order, actor=world.users["bob"], kind="extension", note="x")
    assert not OrderRequest.objects.exists()


def test_one_request_waits_at_a_time(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    actions.request_change(order, actor=world.users["bob"], kind="suspension", note="等产权单位")
    with pytest.raises(InvalidInput, match="already waiting"):
        actions.request_change(order, actor=world.users["bob"], kind="void", note="重复")
    assert OrderRequest.objects.count() == 1


def test_an_approved_suspension_suspends_and_a_void_voids(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    actions.request_change(order, actor=world.users["bob"], kind="suspension", note="等产权单位")
    actions.decide_request(fresh(order).requests.get(), actor=world.users["carol"], approve=True)
    assert fresh(order).status == Status.SUSPENDED
    actions.request_change(order, actor=world.users["alice"], kind="void", note="重复上报")
    pending = fresh(order).requests.get(status=RequestStatus.PENDING)
    entry = actions.decide_request(pending, actor=world.users["carol"], approve=True)
    assert entry.to_status == Status.VOIDED
    with pytest.raises(InvalidInput, match="already been decided"):
        actions.decide_request(pending, actor=world.users["carol"], approve=False, note="x")


def test_a_worker_may_not_decide_requests(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    actions.request_change(order, actor=world.users["bob"], kind="suspension", note="等产权单位")
    with pytest.raises(NotAllowed):
        actions.decide_request(fresh(order).requests.get(), actor=world.users["bob"], approve=True)
    assert fresh(order).status == Status.IN_PROGRESS


def test_refusing_with_nothing_waiting_is_an_error(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with pytest.raises(InvalidInput, match="No request"):
        actions.transition(order, "refuse", actor=world.users["carol"], note="no")


def test_a_move_that_overtakes_a_request_settles_it(world: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    due = known(order.handle_due)
    at = order.timeline.last().at + timedelta(minutes=1)  # type: ignore[union-attr]
    actions.request_change(
        order,
        actor=world.users["bob"],
        kind="extension",
        note="x",
        until=due + timedelta(days=1),
        at=at,
    )
    actions.finish(
        order,
        actor=world.users["bob"],
        note="提前完成",
        photos=[stored_photo()],
        at=at + timedelta(minutes=30),
    )
    order = fresh(order)
    request = order.requests.get()
    assert request.status == RequestStatus.REFUSED
    assert "Overtaken" in request.decision_note
    assert order.paused_at is None


# --- Reopen and rating ---------------------------------------------------------------------


def test_the_reporter_reopens_within_the_limit_as_rework(world: Any, settings: Any) -> None:
    settings.YUNBAO_REOPEN_DAYS = 3
    order = bring_to(world, Status.CLOSED)
    actions.rate(order, actor=world.users["erin"], rating=2)
    closed = known(fresh(order).closed_at)
    entry = actions.reopen(
        order, actor=world.users["erin"], note="还是很脏", at=closed + timedelta(days=2)
    )
    order = fresh(order)
    assert (entry.from_status, entry.to_status) == (Status.CLOSED, Status.DISPATCHED)
    assert order.rework_count == 1
    assert order.worker == world.users["bob"]
    assert order.rating is None
    assert known(order.handle_due) > entry.at


def test_reopening_after_the_limit_is_refused(world: Any, settings: Any) -> None:
    settings.YUNBAO_REOPEN_DAYS = 3
    order = bring_to(world, Status.CLOSED)
    closed = known(fresh(order).closed_at)
    with pytest.raises(InvalidInput, match="within 3 days"):
        actions.reopen(order, actor=world.users["erin"], note="x", at=closed + timedelta(days=4))
    assert fresh(order).status == Status.CLOSED


def test_someone_else_may_not_reopen(world: Any) -> None:
    order = bring_to(world, Status.CLOSED)
    with pytest.raises(NotAllowed):
        actions.reopen(order, actor=world.users["emma"], note="x")
    with pytest.raises(NotAllowed):
        actions.reopen(order, actor=None, note="x")  # the system is not the reporter


def test_an_anonymous_reporter_rates_and_reopens_through_their_token(world: Any) -> None:
    order = bring_to(world, Status.CLOSED)
    order.reporter = None
    order.save(update_fields=["reporter"])
    entry = actions.rate(order, actor=None, rating=4, as_reporter=True)
    assert (entry.role, fresh(order).rating) == ("reporter", 4)
    entry = actions.reopen(order, actor=None, note="又脏了", as_reporter=True)
    assert entry.role == "reporter"
    assert fresh(order).status == Status.DISPATCHED
