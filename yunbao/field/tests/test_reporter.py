"""The reporter on the tracking page: progress steps, rating, reopening (token or account)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from yunbao.field.models import FieldAction
from yunbao.intake.actions import ReportInput, submit_report
from yunbao.testing import World
from yunbao.workorders.models import Status, WorkOrder
from yunbao.workorders.tests.helpers import PATHS, do

pytestmark = pytest.mark.django_db


def reported(world: World, status: str, *, user: str | None = None) -> tuple[WorkOrder, str]:
    """A report through intake (anonymous unless `user`), brought to `status`; → its token."""
    lat, lon = world.point1()
    result = submit_report(
        ReportInput(
            key=uuid.uuid4().hex,
            lat=lat,
            lon=lon,
            description="路灯不亮",
            category=world.category.code,
        ),
        actor=world.users[user] if user else None,
    )
    order = result.order
    for action, who in PATHS[status]:
        do(world, action, order, None if who is None else world.users[who])
    return order, result.submission.tracking_token


def post(client: Client, token: str, action: str, **data: object) -> Any:
    data.setdefault("key", uuid.uuid4().hex)
    return client.post(reverse("field:reporter-action", args=[token, action]), data)


def test_the_tracking_page_shows_progress_steps(world: World, client: Client) -> None:
    order, token = reported(world, Status.HANDLED)
    response = client.get(reverse("intake-track", args=[token]))
    steps = response.context["steps"]
    assert [s["done"] for s in steps] == [True, True, False]
    assert steps[0]["at"] == order.dispatched_at
    assert not response.context["can_rate"]  # not closed yet


def test_an_anonymous_reporter_rates_once_with_the_token(world: World, client: Client) -> None:
    order, token = reported(world, Status.CLOSED)
    page = client.get(reverse("intake-track", args=[token]))
    assert page.context["can_rate"]
    assert page.context["can_reopen"]
    assert [s["done"] for s in page.context["steps"]] == [True, True, True]
    body = page.content.decode()
    assert 'name="rating"' in body
    assert "csrfmiddlewaretoken" in body

    k = uuid.uuid4().hex
    response = post(client, token, "rate", key=k, rating="4", note="挺快的")
    assert response.status_code == 302
    assert response["Location"] == reverse("intake-track", args=[token])
    post(client, token, "rate", key=k, rating="4", note="挺快的")  # the double tap
    order.refresh_from_db()
    assert (order.rating, order.rating_comment) == (4, "挺快的")
    assert order.timeline.filter(action="rate").count() == 1
    entry = order.timeline.get(action="rate")
    assert entry.actor is None
    assert entry.role == "reporter"
    assert FieldAction.objects.get(key=k).user is None
    assert not client.get(reverse("intake-track", args=[token])).context["can_rate"]


@pytest.mark.parametrize("rating", ["0", "6", "", "x"])
def test_a_rating_outside_1_to_5_is_refused(world: World, client: Client, rating: str) -> None:
    order, token = reported(world, Status.CLOSED)
    response = post(client, token, "rate", rating=rating)
    assert response.status_code == 302  # back to the page, with the error message
    order.refresh_from_db()
    assert order.rating is None
    messages = [
        str(m) for m in client.get(reverse("intake-track", args=[token])).context["messages"]
    ]
    assert messages


def test_reopening_needs_a_reason_and_counts_as_rework(world: World, client: Client) -> None:
    order, token = reported(world, Status.CLOSED)
    post(client, token, "reopen", note="")
    order.refresh_from_db()
    assert order.status == Status.CLOSED
    post(client, token, "reopen", note="灯还是不亮")
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED
    assert order.rework_count == 1
    assert order.worker == world.users["bob"]
    entry = order.timeline.get(action="reopen")
    assert entry.data["rework"] is True
    assert entry.note == "灯还是不亮"


def test_reopening_after_the_window_is_refused(
    world: World, client: Client, settings: object
) -> None:
    order, token = reported(world, Status.CLOSED)
    WorkOrder.objects.filter(pk=order.pk).update(closed_at=timezone.now() - timedelta(days=30))
    assert not client.get(reverse("intake-track", args=[token])).context["can_reopen"]
    post(client, token, "reopen", note="还是坏的")
    order.refresh_from_db()
    assert order.status == Status.CLOSED


def test_a_wrong_token_is_a_404(world: World, client: Client) -> None:
    reported(world, Status.CLOSED)
    response = post(client, "not-a-token", "rate", rating="5")
    assert response.status_code == 404


def test_a_logged_in_reporter_acts_as_themselves(world: World) -> None:
    order, token = reported(world, Status.CLOSED, user="erin")
    erin = Client()
    erin.force_login(world.users["erin"])
    post(erin, token, "rate", rating="5")
    entry = order.timeline.get(action="rate")
    assert entry.actor == world.users["erin"]


def test_someone_else_logged_in_with_the_link_acts_as_the_anonymous_reporter(world: World) -> None:
    order, token = reported(world, Status.CLOSED, user="erin")
    emma = Client()
    emma.force_login(world.users["emma"])
    post(emma, token, "rate", rating="3")
    entry = order.timeline.get(action="rate")
    assert entry.actor is None
    assert entry.role == "reporter"


def test_a_merged_report_cannot_be_rated(world: World, client: Client) -> None:
    original, _ = reported(world, Status.CLOSED)
    order, token = reported(world, Status.SUBMITTED)
    WorkOrder.objects.filter(pk=order.pk).update(duplicate_of=original, status=Status.MERGED)
    assert not client.get(reverse("intake-track", args=[token])).context["can_rate"]
    post(client, token, "rate", rating="1")
    original.refresh_from_db()
    assert original.rating is None
