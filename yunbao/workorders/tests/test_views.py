"""The order pages and the home page: who sees what, asserted through the views."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from yunbao.workorders import actions
from yunbao.workorders.models import Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to, new_order

# Which of the two orders (street one, street two) each person may see.
VISIBLE: dict[str, tuple[bool, bool]] = {
    "alice": (True, False),  # dispatcher of street one
    "bob": (True, False),  # assigned to the street-one order
    "bill": (False, False),  # same unit as Bob, not assigned: a worker sees only their tasks
    "walt": (False, True),  # assigned to the street-two order
    "carol": (True, False),  # supervisor of unit one
    "dave": (True, True),  # district manager
    "erin": (True, False),  # reported the street-one order
    "emma": (False, True),  # reported the street-two order
    "fay": (True, False),  # inspector of street one
    "olga": (False, True),  # dispatcher of street two
    "oscar": (False, False),  # organiser: no orders of others
    "ada": (True, True),  # administrator
}


@pytest.fixture
def two_orders(world: Any) -> tuple[WorkOrder, WorkOrder]:
    one = bring_to(world, Status.DISPATCHED)
    two = new_order(world, reporter="emma", street=2)
    actions.accept(two, actor=None)
    actions.dispatch(two, actor=None, unit=world.unit2, worker=world.users["walt"])
    return one, two


def client_for(world: Any, name: str) -> Client:
    client = Client()
    client.force_login(world.users[name])
    return client


@pytest.mark.parametrize("name", sorted(VISIBLE))
def test_it_shows_each_person_exactly_their_orders(
    world: Any, two_orders: tuple[WorkOrder, WorkOrder], name: str
) -> None:
    client = client_for(world, name)
    home = client.get(reverse("home")).content.decode()
    for order, expected in zip(two_orders, VISIBLE[name], strict=True):
        response = client.get(reverse("order-detail", args=[order.number]))
        assert response.status_code == (200 if expected else 404), (name, order.number)
        # The home page lists a person's own work, never anything they may not see.
        if not expected:
            assert order.number not in home, (name, order.number)


def test_it_sends_an_outsider_to_the_login_page(two_orders: tuple[WorkOrder, WorkOrder]) -> None:
    for order in two_orders:
        response = Client().get(reverse("order-detail", args=[order.number]))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert Client().get(reverse("home")).status_code == 302


def test_it_shows_the_reporters_contact_to_staff_only(
    world: Any, two_orders: tuple[WorkOrder, WorkOrder]
) -> None:
    url = reverse("order-detail", args=[two_orders[0].number])
    assert "13800000000" in client_for(world, "alice").get(url).content.decode()
    assert "13800000000" not in client_for(world, "erin").get(url).content.decode()


def test_it_makes_a_move_from_the_page(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    client = client_for(world, "alice")
    page = client.get(reverse("order-detail", args=[order.number])).content.decode()
    assert reverse("order-move", args=[order.number, "accept"]) in page
    response = client.post(reverse("order-move", args=[order.number, "accept"]), {})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Status.ACCEPTED
    response = client.post(
        reverse("order-move", args=[order.number, "dispatch"]),
        {"dispatch-unit": world.unit1.pk, "dispatch-worker": world.users["bob"].pk},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.worker) == (Status.DISPATCHED, world.users["bob"])


def test_it_refuses_a_move_with_a_clear_message_and_changes_nothing(world: Any) -> None:
    order = bring_to(world, Status.DISPATCHED)
    response = client_for(world, "bob").post(
        reverse("order-move", args=[order.number, "verify"]), {}
    )
    assert response.status_code == 400
    assert "You may not" in response.content.decode() or "无权" in response.content.decode()
    response = client_for(world, "carol").post(
        reverse("order-move", args=[order.number, "suspend"]), {"suspend-note": ""}
    )
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED


def test_it_hides_another_areas_order_from_a_move(
    world: Any, two_orders: tuple[WorkOrder, WorkOrder]
) -> None:
    one, _ = two_orders
    response = client_for(world, "olga").post(
        reverse("order-move", args=[one.number, "void"]), {"void-note": "x"}
    )
    assert response.status_code == 404
    one.refresh_from_db()
    assert one.status == Status.DISPATCHED


def test_it_refuses_a_move_without_csrf(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["alice"])
    response = client.post(reverse("order-move", args=[order.number, "accept"]), {})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED
