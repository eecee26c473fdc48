"""Where workers and supervisors find the field pages, and the order page's moves that
need their own verbs (workorders.forms.run_move)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse

from yunbao.field.tests.helpers import client_for
from yunbao.testing import World
from yunbao.workorders import actions as moves
from yunbao.workorders.models import OrderRequest, Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to

pytestmark = pytest.mark.django_db


def tools(world: World, name: str) -> list[str]:
    response = client_for(world, name).get(reverse("home"))
    return [url for _, url in response.context["tools"]]


def test_home_links_workers_to_their_tasks_and_checkers_to_the_queue(world: World) -> None:
    assert reverse("field:tasks") in tools(world, "bob")
    assert reverse("field:check-queue") not in tools(world, "bob")
    for name in ("carol", "dave", "ada"):
        assert reverse("field:check-queue") in tools(world, name)
    assert reverse("field:tasks") not in tools(world, "carol")
    assert not {reverse("field:tasks"), reverse("field:check-queue")} & set(tools(world, "erin"))


def move(world: World, name: str, order: WorkOrder, action: str, **data: str) -> Any:
    fields = {f"{action}-{k}": v for k, v in data.items()}
    return client_for(world, name).post(
        reverse("order-move", args=[order.number, action]),
        fields,
    )


def test_rework_from_the_order_page_counts_as_rework(world: World) -> None:
    order = bring_to(world, Status.HANDLED)
    move(world, "carol", order, "rework", note="没清干净")
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED
    assert order.rework_count == 1


def test_an_extension_request_from_the_order_page_files_a_request(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    assert order.handle_due is not None
    until = (order.handle_due + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = move(world, "bob", order, "request_extension", note="等材料")
    assert response.status_code == 400  # the date is needed
    move(world, "bob", order, "request_extension", note="等材料", until=until)
    request = OrderRequest.objects.get()
    assert (request.kind, request.status) == ("extension", "pending")
    order.refresh_from_db()
    assert order.paused_at is not None


def test_refusing_from_the_order_page_decides_the_request(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    moves.request_change(order, actor=world.users["bob"], kind="suspension", note="产权不明")
    move(world, "carol", order, "refuse", note="先处理")
    assert OrderRequest.objects.get().status == "refused"


def test_reopen_from_the_order_page_uses_the_window_and_counts(world: World) -> None:
    order = bring_to(world, Status.CLOSED)
    move(world, "erin", order, "reopen", note="又坏了")
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED
    assert order.rework_count == 1


def test_arrival_from_the_order_page_points_to_the_phone(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    response = move(world, "bob", order, "arrive")
    assert response.status_code == 400
    assert not order.timeline.filter(action="arrive").exists()
