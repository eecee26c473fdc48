"""The worker's pages: my tasks, the task page and each action, allowed and refused."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from yunbao.field.models import FieldAction
from yunbao.field.tests.helpers import JSON, act, client_for, jpeg, key
from yunbao.testing import World
from yunbao.workorders.models import OrderRequest, PhotoKind, RequestStatus, Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to

pytestmark = pytest.mark.django_db


def arrive_at(order: WorkOrder, metres_north: float = 0) -> dict[str, Any]:
    # One degree of latitude is about 111 km.
    return {"lat": order.lat + metres_north / 111_000, "lon": order.lon, "accuracy": 8}


# --- My tasks --------------------------------------------------------------------------------


def test_my_tasks_lists_only_mine_nearest_deadline_first(world: World) -> None:
    later = bring_to(world, Status.DISPATCHED)
    sooner = bring_to(world, Status.IN_PROGRESS)
    assert later.handle_due is not None
    WorkOrder.objects.filter(pk=sooner.pk).update(handle_due=later.handle_due - timedelta(hours=1))
    theirs = bring_to(world, Status.DISPATCHED, street=2)  # Walt's
    response = client_for(world, "bob").get(reverse("field:tasks"))
    assert response.status_code == 200
    numbers = [o.number for o in response.context["in_hand"]]
    assert numbers == [sooner.number, later.number]
    body = response.content.decode()
    assert theirs.number not in body
    assert 'class="sla-badge' in body  # the time left on each


def test_my_tasks_is_for_workers_only(world: World, client: Any) -> None:
    assert client_for(world, "carol").get(reverse("field:tasks")).status_code == 403
    assert client_for(world, "erin").get(reverse("field:tasks")).status_code == 403
    response = client.get(reverse("field:tasks"))  # not logged in
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- The task page ---------------------------------------------------------------------------


def test_the_task_page_shows_what_where_and_the_moves_of_the_moment(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    response = client_for(world, "bob").get(reverse("field:task", args=[order.number]))
    assert response.status_code == 200
    body = response.content.decode()
    assert order.description in body
    assert "https://uri.amap.com/navigation?" in body
    assert "https://api.map.baidu.com/marker?" in body
    assert "https://www.openstreetmap.org/?mlat=" in body
    assert "<svg" in body  # the map
    assert response.context["allowed"] >= {"start", "return", "request_extension"}
    assert "arrive" not in response.context["allowed"]
    assert response.context["can_request"]


def test_another_workers_or_another_areas_task_is_a_404(world: World) -> None:
    mine = bring_to(world, Status.DISPATCHED)
    walts = bring_to(world, Status.DISPATCHED, street=2)
    bill = client_for(world, "bill")  # same unit as Bob, but not assigned
    assert bill.get(reverse("field:task", args=[mine.number])).status_code == 404
    bob = client_for(world, "bob")
    assert bob.get(reverse("field:task", args=[walts.number])).status_code == 404
    assert bob.get(reverse("field:task", args=["YB-nonsense"])).status_code == 404
    response = act(bob, walts.number, "start")
    assert response.status_code == 404
    walts.refresh_from_db()
    assert walts.status == Status.DISPATCHED


# --- Accept, arrive, finish ------------------------------------------------------------------


def test_a_worker_takes_arrives_and_finishes_with_an_after_photo(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    bob = client_for(world, "bob")

    response = act(bob, order.number, "start")
    assert response.status_code == 200
    assert response.json()["status"] == Status.IN_PROGRESS
    assert response.json()["replayed"] is False

    response = act(bob, order.number, "arrive", **arrive_at(order, metres_north=40))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["too_far"] is False
    assert 35 <= data["distance_m"] <= 45
    assert data["accuracy_m"] == 8

    response = bob.post(
        reverse("field:task-action", args=[order.number, "finish"]),
        {"key": key(), "note": "已清理干净", "photos": [jpeg(), jpeg("b.jpg", "blue")]},
        **JSON,
    )
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status == Status.HANDLED
    assert order.arrived_at is not None
    after = list(order.photos.filter(kind=PhotoKind.AFTER))
    assert len(after) == 2
    assert all(p.entry is not None and p.entry.action == "finish" for p in after)
    assert all(p.thumbnail and default_storage.exists(str(p.image.name)) for p in after)
    assert order.timeline.filter(action="finish").get().note == "已清理干净"
    assert FieldAction.objects.filter(order=order).count() == 3


def test_arriving_far_away_is_allowed_and_recorded_as_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with caplog.at_level(logging.WARNING):
        response = act(client_for(world, "bob"), order.number, "arrive", **arrive_at(order, 900))
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["too_far"] is True
    assert "recorded as a warning" in body["message"] or "警告" in body["message"]
    entry = order.timeline.get(action="arrive")
    assert entry.data["too_far"] is True
    assert 850 <= entry.data["distance_m"] <= 950
    assert any("arrived" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [("91", "113"), ("23", "181"), ("nan", "113"), ("inf", "113"), ("", "113"), ("abc", "1")],
)
def test_impossible_coordinates_are_refused(
    world: World, lat: str, lon: str, caplog: pytest.LogCaptureFixture
) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with caplog.at_level(logging.INFO, logger="yunbao.field.views"):
        response = act(client_for(world, "bob"), order.number, "arrive", lat=lat, lon=lon)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["detail"]
    assert not order.timeline.filter(action="arrive").exists()
    assert "refused (400)" in caplog.text


def test_finishing_needs_a_photo(world: World, caplog: pytest.LogCaptureFixture) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    with caplog.at_level(logging.INFO, logger="yunbao.field.views"):
        response = act(client_for(world, "bob"), order.number, "finish", note="好了")
    assert response.status_code == 400
    assert response.json()["detail"]
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
    assert "finish" in caplog.text


def test_finishing_needs_a_note_and_keeps_no_photo_files_when_refused(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    response = client_for(world, "bob").post(
        reverse("field:task-action", args=[order.number, "finish"]),
        {"key": key(), "note": "  ", "photos": [jpeg()]},
        **JSON,
    )
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
    assert not order.photos.filter(kind=PhotoKind.AFTER).exists()


def test_a_fake_photo_is_refused_and_nothing_is_stored(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    order = bring_to(world, Status.IN_PROGRESS)
    fake = SimpleUploadedFile("after.jpg", b"%PDF-1.4 not a photo", content_type="image/jpeg")
    with caplog.at_level(logging.INFO):
        response = client_for(world, "bob").post(
            reverse("field:task-action", args=[order.number, "finish"]),
            {"key": key(), "note": "已处理", "photos": [fake]},
            **JSON,
        )
    assert response.status_code == 400
    assert response.json()["detail"]
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
    assert not order.photos.filter(kind=PhotoKind.AFTER).exists()
    assert "not_image" in caplog.text


def test_a_photo_that_fails_its_move_is_removed_from_storage(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yunbao.field import photos

    saved: list[str] = []
    real_save = photos.default_storage.save

    def save(name: str, content: Any, **kwargs: Any) -> str:
        saved.append(real_save(name, content, **kwargs))
        return saved[-1]

    monkeypatch.setattr(photos.default_storage, "save", save)
    order = bring_to(world, Status.DISPATCHED)  # not started: finishing is refused
    response = client_for(world, "bob").post(
        reverse("field:task-action", args=[order.number, "finish"]),
        {"key": key(), "note": "已处理", "photos": [jpeg()]},
        **JSON,
    )
    assert response.status_code == 409
    assert len(saved) == 2  # the photo and its thumbnail were written, then removed
    assert not any(default_storage.exists(name) for name in saved)
    assert not order.photos.exists()


def test_a_wrong_move_for_the_status_is_a_409(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    response = act(client_for(world, "bob"), order.number, "arrive", **arrive_at(order))
    assert response.status_code == 409
    assert response.json()["detail"]


def test_an_unknown_action_is_a_404(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    assert act(client_for(world, "bob"), order.number, "verify").status_code == 404


def test_actions_need_post_and_a_csrf_token(world: World) -> None:
    from django.test import Client

    order = bring_to(world, Status.DISPATCHED)
    url = reverse("field:task-action", args=[order.number, "start"])
    bob = client_for(world, "bob")
    assert bob.get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.users["bob"])
    assert strict.post(url, {"key": key()}, **JSON).status_code == 403
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED


# --- Return, extension, suspension -----------------------------------------------------------


def test_returning_needs_a_reason_and_sends_it_back_to_the_dispatcher(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    bob = client_for(world, "bob")
    response = act(bob, order.number, "return", note="")
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS

    response = act(bob, order.number, "return", note="不是我们的路段")
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == Status.ACCEPTED
    assert order.worker is None
    assert bob.get(reverse("field:task", args=[order.number])).status_code == 404


def test_asking_for_an_extension_pauses_the_clock_until_decided(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    bob = client_for(world, "bob")
    assert order.handle_due is not None
    until = (order.handle_due + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = act(bob, order.number, "request", kind="extension", note="", until=until)
    assert response.status_code == 400  # a reason is required
    response = act(bob, order.number, "request", kind="extension", note="等材料")
    assert response.status_code == 400  # and the date wanted
    assert not OrderRequest.objects.exists()

    response = act(bob, order.number, "request", kind="extension", note="等材料", until=until)
    assert response.status_code == 200, response.content
    request = OrderRequest.objects.get()
    assert (request.kind, request.status, request.reason) == ("extension", "pending", "等材料")
    order.refresh_from_db()
    assert order.paused_at is not None
    page = bob.get(reverse("field:task", args=[order.number]))
    assert page.context["pending"] == request
    assert not page.context["can_request"]

    response = act(bob, order.number, "request", kind="suspension", note="又一个")
    assert response.status_code == 400  # one request waits at a time
    assert OrderRequest.objects.count() == 1


def test_asking_to_suspend(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    response = act(
        client_for(world, "bob"), order.number, "request", kind="suspension", note="产权不明"
    )
    assert response.status_code == 200
    assert OrderRequest.objects.get().kind == "suspension"
    assert OrderRequest.objects.get().status == RequestStatus.PENDING


# --- Without the script: plain form posts ---------------------------------------------------


def test_a_plain_form_post_redirects_with_a_message(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    bob = client_for(world, "bob")
    url = reverse("field:task-action", args=[order.number, "start"])
    response = bob.post(url, {"key": key()}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("field:task", args=[order.number])
    assert [str(m) for m in response.context["messages"]]
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS


def test_a_refused_plain_post_shows_the_page_again_with_what_was_typed(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    response = client_for(world, "bob").post(
        reverse("field:task-action", args=[order.number, "finish"]),
        {"key": key(), "note": "我写的处理说明"},
    )
    assert response.status_code == 400
    assert "我写的处理说明" in response.content.decode()


def test_after_photos_get_the_phones_position_and_time_when_exif_is_gone(world: World) -> None:
    import json

    from django.utils import timezone

    order = bring_to(world, Status.IN_PROGRESS)
    taken = (timezone.now() - timedelta(minutes=5)).replace(microsecond=0)
    response = client_for(world, "bob").post(
        reverse("field:task-action", args=[order.number, "finish"]),
        {
            "key": key(),
            "note": "已处理",
            "photos": [jpeg(), jpeg("b.jpg")],
            "lat": f"{order.lat + 0.0002:.7f}",
            "lon": f"{order.lon:.7f}",
            # The second photo's time is a phone clock far off: not believed.
            "photo_times": json.dumps([taken.isoformat(), "2001-01-01T00:00:00+00:00"]),
        },
        **JSON,
    )
    assert response.status_code == 200, response.content
    first, second = order.photos.filter(kind=PhotoKind.AFTER).order_by("id")
    assert first.lat == pytest.approx(order.lat + 0.0002)
    assert first.taken_at == taken
    assert second.taken_at is None


def test_finishing_with_an_impossible_position_is_refused(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    response = client_for(world, "bob").post(
        reverse("field:task-action", args=[order.number, "finish"]),
        {"key": key(), "note": "已处理", "photos": [jpeg()], "lat": "123", "lon": "113"},
        **JSON,
    )
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS
