"""The supervisor's pages: the verification queue, the check page, close, rework, decide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from yunbao.field.tests.helpers import act, check, client_for, key
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions as moves
from yunbao.workorders.models import (
    OrderRequest,
    Photo,
    PhotoKind,
    RequestStatus,
    Status,
    WorkOrder,
)
from yunbao.workorders.tests.helpers import bring_to

pytestmark = pytest.mark.django_db


def handled_with_arrival(world: World, metres_north: float = 0) -> WorkOrder:
    order = bring_to(world, Status.IN_PROGRESS)
    bob = world.users["bob"]
    moves.arrive(
        order, actor=bob, lat=order.lat + metres_north / 111_000, lon=order.lon, accuracy_m=6
    )
    photo = stored_photo()
    moves.finish(
        order,
        actor=bob,
        note="已清理",
        photos=[
            type(photo)(
                image=photo.image, width=32, height=24, lat=order.lat + 0.0001, lon=order.lon
            )
        ],
    )
    return order


def handled_in_street_two(world: World) -> WorkOrder:
    order = bring_to(world, Status.DISPATCHED, street=2)  # Walt's, in street two
    walt = world.users["walt"]
    moves.start(order, actor=walt)
    moves.finish(order, actor=walt, note="已清理", photos=[stored_photo()])
    return order


def test_the_queue_lists_handled_orders_oldest_deadline_first_and_waiting_requests(
    world: World,
) -> None:
    newer = handled_with_arrival(world)
    older = handled_with_arrival(world)
    assert newer.check_due is not None
    WorkOrder.objects.filter(pk=older.pk).update(check_due=newer.check_due - timedelta(hours=2))
    asking = bring_to(world, Status.IN_PROGRESS)
    moves.request_change(asking, actor=world.users["bob"], kind="suspension", note="等产权单位")
    elsewhere = handled_in_street_two(world)  # not Carol's

    response = client_for(world, "carol").get(reverse("field:check-queue"))
    assert response.status_code == 200
    assert [o.number for o in response.context["handled"]] == [older.number, newer.number]
    assert [r.order.number for r in response.context["requests"]] == [asking.number]
    assert elsewhere.number not in response.content.decode()


@pytest.mark.parametrize("name", ["bob", "alice", "erin", "fay"])
def test_the_queue_is_for_supervisors_managers_and_admins(world: World, name: str) -> None:
    assert client_for(world, name).get(reverse("field:check-queue")).status_code == 403


@pytest.mark.parametrize("name", ["carol", "dave", "ada"])
def test_supervisors_managers_and_admins_may_use_it(world: World, name: str) -> None:
    assert client_for(world, name).get(reverse("field:check-queue")).status_code == 200


def test_the_check_page_shows_before_and_after_with_positions_and_the_arrival(
    world: World,
) -> None:
    order = handled_with_arrival(world, metres_north=500)
    Photo.objects.create(order=order, kind=PhotoKind.BEFORE, image=stored_photo().image)
    response = client_for(world, "carol").get(reverse("field:check", args=[order.number]))
    assert response.status_code == 200
    context = response.context
    assert len(context["before_photos"]) == 1
    after = context["after_photos"]
    assert len(after) == 1
    assert 5 <= after[0]["distance_m"] <= 15  # the photo's position, 0.0001° north
    assert context["arrival"].data["too_far"] is True
    assert context["finish"].note == "已清理"
    assert context["allowed"] >= {"verify", "rework"}
    body = response.content.decode()
    assert 'class="compare"' in body
    assert "m from the report" in body or "米" in body


def test_another_areas_order_is_a_404_on_the_check_page_and_its_actions(world: World) -> None:
    order = handled_in_street_two(world)
    carol = client_for(world, "carol")
    assert carol.get(reverse("field:check", args=[order.number])).status_code == 404
    assert check(carol, order.number, "verify").status_code == 404
    order.refresh_from_db()
    assert order.status == Status.HANDLED


def test_closing(world: World) -> None:
    order = handled_with_arrival(world)
    response = check(client_for(world, "carol"), order.number, "verify")
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == Status.CLOSED


def test_rework_needs_a_reason_goes_to_the_same_worker_and_counts(world: World) -> None:
    order = handled_with_arrival(world)
    carol = client_for(world, "carol")
    assert check(carol, order.number, "rework", note="").status_code == 400
    order.refresh_from_db()
    assert order.status == Status.HANDLED
    response = check(carol, order.number, "rework", note="还有一袋没清")
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED
    assert order.worker == world.users["bob"]
    assert order.rework_count == 1
    assert order.timeline.filter(action="rework").get().note == "还有一袋没清"
    tasks = client_for(world, "bob").get(reverse("field:tasks"))
    assert order in tasks.context["in_hand"]


def test_approving_an_extension_moves_the_deadline(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    assert order.handle_due is not None
    until = order.handle_due + timedelta(days=2)
    moves.request_change(
        order, actor=world.users["bob"], kind="extension", note="等材料", until=until
    )
    carol = client_for(world, "carol")
    page = carol.get(reverse("field:check", args=[order.number]))
    assert page.context["can_approve"]
    assert page.context["can_refuse"]
    response = check(carol, order.number, "approve")
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.handle_due == until
    assert order.paused_at is None
    assert OrderRequest.objects.get().status == RequestStatus.APPROVED


def test_approving_a_suspension_and_a_void(world: World) -> None:
    carol = client_for(world, "carol")
    suspended = bring_to(world, Status.IN_PROGRESS)
    moves.request_change(suspended, actor=world.users["bob"], kind="suspension", note="产权不明")
    assert check(carol, suspended.number, "approve").status_code == 200
    suspended.refresh_from_db()
    assert suspended.status == Status.SUSPENDED
    voided = bring_to(world, Status.DISPATCHED)
    moves.request_change(voided, actor=world.users["bob"], kind="void", note="重复件")
    assert check(carol, voided.number, "approve").status_code == 200
    voided.refresh_from_db()
    assert voided.status == Status.VOIDED


def test_refusing_needs_a_reason_and_lets_the_clock_run_again(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    assert order.handle_due is not None
    moves.request_change(
        order,
        actor=world.users["bob"],
        kind="extension",
        note="等材料",
        until=order.handle_due + timedelta(days=2),
    )
    carol = client_for(world, "carol")
    assert check(carol, order.number, "refuse", note="").status_code == 400
    assert check(carol, order.number, "refuse", note="今天必须完成").status_code == 200
    order.refresh_from_db()
    request = OrderRequest.objects.get()
    assert request.status == RequestStatus.REFUSED
    assert request.decision_note == "今天必须完成"
    assert order.paused_at is None
    assert order.status == Status.IN_PROGRESS


def test_deciding_with_no_request_waiting_is_a_409(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    response = check(client_for(world, "carol"), order.number, "approve")
    assert response.status_code == 409


def test_a_worker_cannot_use_the_supervisors_actions(world: World) -> None:
    order = handled_with_arrival(world)
    response = client_for(world, "bob").post(
        reverse("field:check-action", args=[order.number, "verify"]), {"key": key()}
    )
    assert response.status_code == 403
    assert act(client_for(world, "bob"), order.number, "verify").status_code == 404
    order.refresh_from_db()
    assert order.status == Status.HANDLED
