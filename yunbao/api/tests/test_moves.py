"""Moving orders through the API: the same verbs, the same answers as the functions."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from PIL import Image

from yunbao.api.tests.conftest import assert_error, known
from yunbao.field.models import FieldAction
from yunbao.workorders.actions import InvalidInput, NotAllowed
from yunbao.workorders.models import (
    OrderRequest,
    Photo,
    PhotoKind,
    RequestStatus,
    Status,
    WorkOrder,
)
from yunbao.workorders.tests.helpers import PATHS, bring_to, do, new_order
from yunbao.workorders.transitions import TRANSITIONS

ORDERS = "/api/v1/orders"


def jpeg(colour: str = "teal") -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(buffer, "JPEG")
    buffer.seek(0)
    buffer.name = "after.jpg"
    return buffer


def fresh(order: WorkOrder) -> WorkOrder:
    return WorkOrder.objects.get(pk=order.pk)


def test_a_whole_life_through_the_api(world: Any, as_user: Any) -> None:
    erin, alice, bob, carol = (as_user(n) for n in ["erin", "alice", "bob", "carol"])
    order = new_order(world)
    url = f"{ORDERS}/{order.number}"
    assert alice.post(f"{url}/accept", {"urgency": "urgent"}).json()["status"] == "accepted"
    moved = alice.post(f"{url}/dispatch", {"unit": "u1", "worker": "bob"}).json()
    assert moved["status"] == "dispatched"
    assert moved["data"]["worker"] == "bob"
    assert bob.post(f"{url}/start", {}).json()["status"] == "in_progress"
    arrived = bob.post(f"{url}/arrive", {"lat": order.lat, "lon": order.lon, "accuracy_m": 8})
    assert arrived.json()["data"]["distance_m"] == 0
    finished = bob.post(f"{url}/finish", {"note": "已清理", "photos": [jpeg()]}, multipart=True)
    assert finished.status_code == 200, finished.content
    assert finished.json()["status"] == "handled"
    assert carol.post(f"{url}/verify", {"note": "好"}).json()["status"] == "closed"
    rated = erin.post(f"{url}/rate", {"rating": 5, "comment": "很快"})
    assert rated.json()["data"] == {"rating": 5}
    order = fresh(order)
    assert (order.status, order.urgency, order.rating) == ("closed", "urgent", 5)
    assert [e.action for e in order.timeline.all()] == [
        "submit",
        "accept",
        "dispatch",
        "start",
        "arrive",
        "finish",
        "verify",
        "rate",
    ]
    # The after-photo went through intake's pipeline: stored, with a thumbnail, tied to
    # the finish.
    photo = order.photos.get(kind=PhotoKind.AFTER)
    assert photo.entry is not None
    assert photo.entry.action == "finish"
    assert photo.thumbnail
    assert (photo.width, photo.height) == (80, 60)
    detail = erin.get(url).json()
    assert [p["kind"] for p in detail["photos"]] == ["after"]


def test_wrong_role_is_403_wrong_status_409_bad_input_422_unseen_404(
    world: Any, as_user: Any
) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    url = f"{ORDERS}/{order.number}"
    assert_error(as_user("alice").post(f"{url}/verify", {}), 403)  # a dispatcher never checks
    assert_error(as_user("carol").post(f"{url}/verify", {}), 409)  # not handled yet
    assert_error(as_user("bob").post(f"{url}/start", {}), 409)  # already started
    assert_error(as_user("bob").post(f"{url}/return", {"note": "   "}), 422, "note")
    until = (known(order.handle_due) + timedelta(days=1)).isoformat()
    assert_error(as_user("olga").post(f"{url}/extend", {"note": "x", "until": until}), 404)
    assert_error(as_user("carol").post(f"{url}/assign", {"worker": "walt"}), 422)  # other unit
    assert_error(as_user("carol").post(f"{url}/assign", {"worker": "nobody"}), 422, "worker")
    assert_error(as_user("bob").post(f"{url}/arrive", {"lat": 91, "lon": 113}), 422, "lat")
    assert_error(as_user("bob").post(f"{url}/finish", {"note": "done"}, multipart=True), 422)
    past = (known(order.handle_due) - timedelta(hours=1)).isoformat()
    assert_error(as_user("bob").post(f"{url}/request-extension", {"until": past, "note": "x"}), 422)
    naive = (known(order.handle_due) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert_error(
        as_user("bob").post(f"{url}/request-extension", {"until": naive, "note": "x"}), 422
    )
    assert_error(as_user("bob").post(f"{url}/return", {"note": "a\x00b"}), 422, "note")
    assert fresh(order).status == Status.IN_PROGRESS
    assert order.timeline.count() == 4


def test_an_idempotency_key_moves_once_and_replays(world: Any, as_user: Any) -> None:
    order = bring_to(world, Status.DISPATCHED)
    url = f"{ORDERS}/{order.number}/start"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = as_user("bob").post(url, {}, headers=key).json()
    again = as_user("bob").post(url, {}, headers=key).json()
    assert first["replayed"] is False
    assert again["replayed"] is True
    assert first["entry"] == again["entry"]
    assert order.timeline.filter(action="start").count() == 1
    assert FieldAction.objects.filter(key=key["Idempotency-Key"]).count() == 1
    # The same key for another move is a client bug.
    other = new_order(world)
    assert_error(
        as_user("alice").post(f"{ORDERS}/{other.number}/accept", {}, headers=key),
        409,
        "Idempotency-Key",
    )
    assert_error(as_user("bob").post(url, {}, headers={"Idempotency-Key": "short"}), 422)


def test_photos_uploaded_first_are_the_proof_of_a_later_finish(world: Any, as_user: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    url = f"{ORDERS}/{order.number}"
    bob = as_user("bob")
    uploaded = bob.post(f"{url}/photos", {"photos": [jpeg(), jpeg("red")]}, multipart=True)
    assert uploaded.status_code == 201, uploaded.content
    assert [p["entry"] for p in uploaded.json()] == [None, None]
    finished = bob.post(f"{url}/finish", {"note": "已清理"}, multipart=True)
    assert finished.status_code == 200
    entry = finished.json()["entry"]
    assert set(Photo.objects.filter(order=order).values_list("entry_id", flat=True)) == {entry}
    listed = bob.get(f"{url}/photos").json()
    assert len(listed) == 2
    assert all(p["url"].startswith("http") for p in listed)


def test_a_file_that_is_no_photo_is_refused_and_nothing_is_kept(world: Any, as_user: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    fake = io.BytesIO(b"GIF89a not really")
    fake.name = "x.jpg"
    response = as_user("bob").post(
        f"{ORDERS}/{order.number}/finish", {"note": "done", "photos": [fake]}, multipart=True
    )
    assert_error(response, 422, "photos")
    assert fresh(order).status == Status.IN_PROGRESS
    assert not order.photos.exists()


def test_requests_are_asked_approved_and_refused(world: Any, as_user: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    url = f"{ORDERS}/{order.number}"
    carol, bob = as_user("carol"), as_user("bob")
    assert_error(carol.post(f"{url}/refuse-request", {"note": "x"}), 409)  # nothing waits
    assert_error(bob.post(f"{url}/refuse-request", {"note": "x"}), 403)  # never theirs
    until = (known(order.handle_due) + timedelta(days=2)).isoformat()
    asked = bob.post(f"{url}/request-extension", {"until": until, "note": "需要吊车"})
    assert asked.status_code == 200
    detail = carol.get(url).json()
    assert detail["pending_request"]["kind"] == "extension"
    assert "approve" not in detail["actions"]
    assert "extend" in detail["actions"]
    approved = carol.post(f"{url}/approve-request", {})
    assert approved.json()["action"] == "extend"
    order = fresh(order)
    assert known(order.handle_due).isoformat() == until
    assert order.requests.get().status == RequestStatus.APPROVED
    bob.post(f"{url}/request-suspension", {"note": "等产权单位"})
    refused = carol.post(f"{url}/refuse-request", {"note": "今天完成"})
    assert refused.json()["action"] == "refuse"
    assert not OrderRequest.objects.filter(status=RequestStatus.PENDING).exists()


def test_the_reporter_reopens_and_others_may_not(world: Any, as_user: Any) -> None:
    order = bring_to(world, Status.CLOSED)
    url = f"{ORDERS}/{order.number}/reopen"
    assert_error(as_user("emma").post(url, {"note": "x"}), 404)
    assert_error(as_user("carol").post(url, {"note": "x"}), 403)
    reopened = as_user("erin").post(url, {"note": "还是很脏"})
    assert reopened.json()["status"] == "dispatched"
    assert fresh(order).rework_count == 1


# --- The API answers as the functions do -----------------------------------------------------

ACTORS = ["erin", "fay", "alice", "bob", "bill", "carol", "dave", "oscar", "ada", "olga"]
ROUTE = {action: action.replace("_", "-") for action in TRANSITIONS}
ROUTE["refuse"] = "refuse-request"


def _body(world: Any, action: str, order: WorkOrder) -> tuple[dict[str, Any], bool]:
    """The API input equal to what `helpers.do` gives the function."""
    base = order.handle_due or order.created_at
    match action:
        case "accept" | "start" | "verify" | "resume":
            return {}, False
        case "reject":
            return {"note": "不属于受理范围"}, False
        case "merge":
            return {"into": new_order(world).number}, False
        case "dispatch":
            unit, worker = ("u2", "walt") if order.grid_id == world.grid2.pk else ("u1", "bob")
            return {"unit": unit, "worker": worker}, False
        case "assign":
            return {"worker": "bill"}, False
        case "arrive":
            return {"lat": order.lat, "lon": order.lon}, False
        case "finish":
            return {"note": "已清理", "photos": [jpeg()]}, True
        case "request_extension":
            return {"until": (base + timedelta(days=2)).isoformat(), "note": "需要协调"}, False
        case "extend":
            return {"until": (base + timedelta(days=1)).isoformat(), "note": "需要吊车"}, False
        case "rate":
            return {"rating": 5, "comment": "很快"}, False
        case _:
            return {"note": "需要协调"}, False


CASES = [
    (action, status)
    for action, t in TRANSITIONS.items()
    for status in {t.sources[0], next(s for s in PATHS if s not in t.sources)}
]


@pytest.mark.parametrize(("action", "status"), sorted(CASES))
def test_the_api_refuses_and_allows_exactly_what_the_functions_do(
    world: Any, as_user: Any, action: str, status: str, settings: Any
) -> None:
    settings.YUNBAO_API_RATE_LIMIT = 0
    order = bring_to(world, status)
    if action == "refuse":
        OrderRequest.objects.create(
            order=order, kind="void", reason="重复", requested_at=order.created_at
        )
    for name in ACTORS:
        user = world.users[name]
        visible = WorkOrder.objects.visible_to(user).filter(pk=order.pk).exists()
        with transaction.atomic():
            try:
                do(world, action, fresh(order), user)
                expected = "ok"
            except NotAllowed:
                expected = "not allowed"
            except InvalidInput:
                expected = "invalid"
            transaction.set_rollback(True)
        with transaction.atomic():
            body, multipart = _body(world, action, order)
            response = as_user(name).post(
                f"{ORDERS}/{order.number}/{ROUTE[action]}", body, multipart=multipart
            )
            transaction.set_rollback(True)
        got = response.status_code
        if not visible:
            assert got == 404, (name, action, status, response.content)
        elif expected == "ok":
            assert got == 200, (name, action, status, response.content)
        elif expected == "not allowed":
            assert got in (403, 409), (name, action, status, response.content)
        else:
            assert got == 422, (name, action, status, response.content)
