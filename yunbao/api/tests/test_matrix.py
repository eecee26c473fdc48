"""The authorization matrix: every route of the API, tried by every role, by anonymous
callers and by staff of another area, against an explicit table of expected answers.

The world (yunbao.testing): the order is in street one, reported by Erin (resident),
handled by unit one; Bob is its assigned worker, Bill a worker of the same unit who is not
assigned, Carol the unit's supervisor, Alice street one's dispatcher, Fay its inspector,
Dave the district's manager, Emma another resident, Oscar an organiser, Ada an
administrator; Olga (street two's dispatcher) and Walt (unit two's worker) are outsiders.

Each request runs in a savepoint that is rolled back, so every cell starts from the same
state: the order in the status the move starts from. 401 no credentials; 403 may see but
may not act; 404 may not see (never a hint that the order exists).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from PIL import Image

from yunbao.api import tokens, webhooks
from yunbao.api.main import api
from yunbao.api.tests.conftest import ApiClient, known
from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Protocol
from yunbao.workorders import actions
from yunbao.workorders.models import Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to, new_order

PEOPLE = [
    "anon",
    "erin",
    "emma",
    "fay",
    "alice",
    "bob",
    "bill",
    "carol",
    "dave",
    "oscar",
    "ada",
    "olga",
    "walt",
]
#                 anon erin emma fay alice bob bill carol dave oscar ada olga walt
EXPECTED: dict[str, str] = {
    "GET /catalog": "200 200 200 200 200 200 200 200 200 200 200 200 200",
    "GET /reports/nearby": "200 200 200 200 200 200 200 200 200 200 200 200 200",
    "GET /reports/mine": "200 200 200 200 200 200 200 200 200 200 200 200 200",
    "POST /reports": "201 201 201 201 201 201 201 201 201 201 201 201 201",
    "POST /reports/{n}/me-too": "200 200 200 200 200 200 200 200 200 200 200 200 200",
    "GET /orders": "401 200 200 200 200 200 200 200 200 200 200 200 200",
    "GET /orders/{n}": "401 200 404 200 200 200 404 200 200 404 200 404 404",
    "GET /orders/{n}/photos": "401 200 404 200 200 200 404 200 200 404 200 404 404",
    "POST /orders/{n}/photos": "401 403 404 403 403 201 404 403 403 404 403 404 404",
    "POST /orders/{n}/accept": "401 403 404 403 200 404 404 403 200 404 200 404 404",
    "POST /orders/{n}/reject": "401 403 404 403 200 404 404 403 200 404 200 404 404",
    "POST /orders/{n}/merge": "401 403 404 403 200 404 404 403 200 404 200 404 404",
    "POST /orders/{n}/dispatch": "401 403 404 403 200 404 404 403 200 404 200 404 404",
    "POST /orders/{n}/assign": "401 403 404 403 200 403 404 200 200 404 200 404 404",
    "POST /orders/{n}/start": "401 403 404 403 403 200 404 403 403 404 403 404 404",
    "POST /orders/{n}/arrive": "401 403 404 403 403 200 404 403 403 404 403 404 404",
    "POST /orders/{n}/finish": "401 403 404 403 403 200 404 403 403 404 403 404 404",
    "POST /orders/{n}/return": "401 403 404 403 403 200 404 200 403 404 403 404 404",
    "POST /orders/{n}/request-extension": "401 403 404 403 403 200 404 403 403 404 403 404 404",
    "POST /orders/{n}/request-suspension": "401 403 404 403 403 200 404 403 403 404 403 404 404",
    "POST /orders/{n}/request-void": "401 403 404 403 200 200 404 200 200 404 200 404 404",
    "POST /orders/{n}/approve-request": "401 403 404 403 403 403 404 200 200 404 200 404 404",
    "POST /orders/{n}/refuse-request": "401 403 404 403 403 403 404 200 200 404 200 404 404",
    "POST /orders/{n}/verify": "401 403 404 200 403 403 404 200 200 404 200 404 404",
    "POST /orders/{n}/rework": "401 403 404 200 403 403 404 200 200 404 200 404 404",
    "POST /orders/{n}/extend": "401 403 404 403 403 403 404 200 200 404 200 404 404",
    "POST /orders/{n}/suspend": "401 403 404 403 403 404 404 200 200 404 200 404 404",
    "POST /orders/{n}/resume": "401 403 404 403 403 403 404 200 200 404 200 404 404",
    "POST /orders/{n}/void": "401 403 404 403 403 404 404 200 200 404 200 404 404",
    "POST /orders/{n}/rate": "401 200 404 403 403 403 404 403 403 404 403 404 404",
    "POST /orders/{n}/reopen": "401 200 404 403 403 403 404 403 403 404 403 404 404",
    "GET /devices": "401 403 403 403 200 200 200 200 200 403 200 200 200",
    "GET /devices/{id}": "401 403 403 403 200 404 404 200 200 403 200 404 404",
    "GET /tokens": "401 200 200 200 200 200 200 200 200 200 200 200 200",
    "POST /tokens": "401 403 403 403 403 403 403 403 403 403 403 403 403",
    "DELETE /tokens/{id}": "401 404 404 404 404 404 404 404 404 404 200 404 404",
    "GET /webhooks": "401 403 403 403 403 403 403 403 403 403 200 403 403",
    "POST /webhooks": "401 403 403 403 403 403 403 403 403 403 201 403 403",
    "GET /webhooks/{id}": "401 403 403 403 403 403 403 403 403 403 200 403 403",
    "PATCH /webhooks/{id}": "401 403 403 403 403 403 403 403 403 403 200 403 403",
    "POST /webhooks/{id}/rotate-secret": "401 403 403 403 403 403 403 403 403 403 200 403 403",
    "DELETE /webhooks/{id}": "401 403 403 403 403 403 403 403 403 403 204 403 403",
}


def jpeg() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "JPEG")
    buffer.seek(0)
    buffer.name = "after.jpg"
    return buffer


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    multipart: bool = False
    headers: dict[str, str] | None = None


Scenario = Callable[[Any], Call]


def order_in(world: Any, status: str) -> WorkOrder:
    return bring_to(world, status)


def _move(move: str, status: str, body: Callable[[Any, WorkOrder], dict[str, Any]]) -> Scenario:
    def make(world: Any) -> Call:
        order = order_in(world, status)
        return Call("POST", f"/orders/{order.number}/{move}", body(world, order))

    return make


def _note(world: Any, order: WorkOrder) -> dict[str, Any]:
    return {"note": "API test"}


def _with_request(move: str) -> Scenario:
    def make(world: Any) -> Call:
        order = order_in(world, Status.IN_PROGRESS)
        actions.request_change(order, actor=world.users["bob"], kind="suspension", note="等待")
        return Call("POST", f"/orders/{order.number}/{move}", {"note": "decided"})

    return make


def _device(world: Any) -> Device:
    device = Device.objects.create(
        kind=DeviceKind.VEHICLE,
        protocol=Protocol.JT808,
        identifier="13800001111",
        plate="粤A12345",
        unit=world.unit1,
    )
    now = timezone.now()
    LatestPosition.objects.create(
        device=device, fixed_at=now, received_at=now, lat=23.0005, lon=113.0005
    )
    return device


def _webhook(world: Any) -> int:
    sub, _ = webhooks.create_subscription(
        actor=world.users["ada"],
        client="12345 hotline",
        url="https://hotline.example/yunbao",
        events=["created"],
    )
    return sub.pk


def _report(world: Any) -> Call:
    lat, lon = world.point1()
    return Call(
        "POST",
        "/reports",
        {"lat": str(lat), "lon": str(lon), "category": world.category.code, "description": "垃圾"},
        multipart=True,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


SCENARIOS: dict[str, Scenario] = {
    "GET /catalog": lambda w: Call("GET", "/catalog"),
    "GET /reports/nearby": lambda w: Call("GET", "/reports/nearby?lat=23.0005&lon=113.0005"),
    "GET /reports/mine": lambda w: Call("GET", "/reports/mine"),
    "POST /reports": _report,
    "POST /reports/{n}/me-too": lambda w: Call("POST", f"/reports/{new_order(w).number}/me-too"),
    "GET /orders": lambda w: Call("GET", "/orders"),
    "GET /orders/{n}": lambda w: Call("GET", f"/orders/{order_in(w, Status.IN_PROGRESS).number}"),
    "GET /orders/{n}/photos": lambda w: Call(
        "GET", f"/orders/{order_in(w, Status.IN_PROGRESS).number}/photos"
    ),
    "POST /orders/{n}/photos": lambda w: Call(
        "POST",
        f"/orders/{order_in(w, Status.IN_PROGRESS).number}/photos",
        {"photos": [jpeg()]},
        multipart=True,
    ),
    "POST /orders/{n}/accept": _move("accept", Status.SUBMITTED, _note),
    "POST /orders/{n}/reject": _move("reject", Status.SUBMITTED, _note),
    "POST /orders/{n}/merge": _move(
        "merge", Status.SUBMITTED, lambda w, o: {"into": new_order(w).number}
    ),
    "POST /orders/{n}/dispatch": _move(
        "dispatch", Status.ACCEPTED, lambda w, o: {"unit": "u1", "worker": "bob"}
    ),
    "POST /orders/{n}/assign": _move("assign", Status.DISPATCHED, lambda w, o: {"worker": "bill"}),
    "POST /orders/{n}/start": _move("start", Status.DISPATCHED, _note),
    "POST /orders/{n}/arrive": _move(
        "arrive", Status.IN_PROGRESS, lambda w, o: {"lat": o.lat, "lon": o.lon}
    ),
    "POST /orders/{n}/finish": lambda w: Call(
        "POST",
        f"/orders/{order_in(w, Status.IN_PROGRESS).number}/finish",
        {"note": "已清理", "photos": [jpeg()]},
        multipart=True,
    ),
    "POST /orders/{n}/return": _move("return", Status.IN_PROGRESS, _note),
    "POST /orders/{n}/request-extension": _move(
        "request-extension",
        Status.IN_PROGRESS,
        lambda w, o: {
            "until": (known(o.handle_due) + timedelta(days=2)).isoformat(),
            "note": "吊车",
        },
    ),
    "POST /orders/{n}/request-suspension": _move("request-suspension", Status.IN_PROGRESS, _note),
    "POST /orders/{n}/request-void": _move("request-void", Status.IN_PROGRESS, _note),
    "POST /orders/{n}/approve-request": _with_request("approve-request"),
    "POST /orders/{n}/refuse-request": _with_request("refuse-request"),
    "POST /orders/{n}/verify": _move("verify", Status.HANDLED, _note),
    "POST /orders/{n}/rework": _move("rework", Status.HANDLED, _note),
    "POST /orders/{n}/extend": _move(
        "extend",
        Status.IN_PROGRESS,
        lambda w, o: {
            "until": (known(o.handle_due) + timedelta(days=1)).isoformat(),
            "note": "吊车",
        },
    ),
    "POST /orders/{n}/suspend": _move("suspend", Status.ACCEPTED, _note),
    "POST /orders/{n}/resume": _move("resume", Status.SUSPENDED, _note),
    "POST /orders/{n}/void": _move("void", Status.SUBMITTED, _note),
    "POST /orders/{n}/rate": _move("rate", Status.CLOSED, lambda w, o: {"rating": 4}),
    "POST /orders/{n}/reopen": _move("reopen", Status.CLOSED, _note),
    "GET /devices": lambda w: Call("GET", "/devices"),
    "GET /devices/{id}": lambda w: Call("GET", f"/devices/{_device(w).pk}"),
    "GET /tokens": lambda w: Call("GET", "/tokens"),
    "POST /tokens": lambda w: Call("POST", "/tokens", {"name": "another"}),
    "DELETE /tokens/{id}": lambda w: Call(
        "DELETE", f"/tokens/{tokens.active_tokens(w.users['ada'])[0].pk}"
    ),
    "GET /webhooks": lambda w: Call("GET", "/webhooks"),
    "POST /webhooks": lambda w: Call(
        "POST",
        "/webhooks",
        {"client": "hotline", "url": "https://hotline.example/in", "events": ["overdue"]},
    ),
    "GET /webhooks/{id}": lambda w: Call("GET", f"/webhooks/{_webhook(w)}"),
    "PATCH /webhooks/{id}": lambda w: Call("PATCH", f"/webhooks/{_webhook(w)}", {"active": False}),
    "POST /webhooks/{id}/rotate-secret": lambda w: Call(
        "POST", f"/webhooks/{_webhook(w)}/rotate-secret"
    ),
    "DELETE /webhooks/{id}": lambda w: Call("DELETE", f"/webhooks/{_webhook(w)}"),
}


def test_the_matrix_covers_every_route_of_the_schema() -> None:
    schema = api.get_openapi_schema()
    routes = {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, methods in schema["paths"].items()
        for method in methods
    }
    named = {
        key.replace("{n}", "{number}")
        .replace("/devices/{id}", "/devices/{device_id}")
        .replace("/tokens/{id}", "/tokens/{token_id}")
        .replace("/webhooks/{id}", "/webhooks/{webhook_id}")
        for key in EXPECTED
    }
    assert named == routes
    assert set(SCENARIOS) == set(EXPECTED)


def _send(client: ApiClient, call: Call) -> Any:
    path = "/api/v1" + call.path
    if call.method == "GET":
        return client.get(path, headers=call.headers)
    if call.method == "DELETE":
        return client.delete(path, headers=call.headers)
    if call.method == "PATCH":
        return client.patch(path, call.body, headers=call.headers)
    return client.post(path, call.body, headers=call.headers, multipart=call.multipart)


@pytest.mark.parametrize("route", list(EXPECTED))
def test_every_role_gets_the_expected_answer(world: Any, route: str, settings: Any) -> None:
    settings.YUNBAO_API_RATE_LIMIT = 0
    settings.YUNBAO_API_ANON_RATE_LIMIT = 0
    clients = {"anon": ApiClient()}
    for name in PEOPLE[1:]:
        clients[name] = ApiClient(tokens.create_token(user=world.users[name], name="t")[1])
    call = SCENARIOS[route](world)
    expected = dict(zip(PEOPLE, (int(c) for c in EXPECTED[route].split()), strict=True))
    got = {}
    for name in PEOPLE:
        if call.multipart and call.body:
            # Files are read by each request: give each its own.
            call.body = {
                k: [jpeg() for _ in v] if k == "photos" else v for k, v in call.body.items()
            }
        with transaction.atomic():
            response = _send(clients[name], call)
            transaction.set_rollback(True)
        got[name] = response.status_code
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"detail", "errors"}, (name, body)
    assert got == expected
