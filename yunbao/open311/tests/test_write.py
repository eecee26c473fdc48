"""The POSTs: requests (through intake, with routing, attributes, media, replays and every
error) and the updates extension (GET and POST servicerequestupdates)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from yunbao.dispatch.models import RoutingRule
from yunbao.dispatch.policy import clear_caches
from yunbao.intake.models import Submission
from yunbao.open311.models import (
    ApiClient,
    ClientUpdate,
    Datatype,
    RequestDetails,
    ServiceAttribute,
)
from yunbao.open311.tests.conftest import (
    BASE,
    Town,
    both,
    error_descriptions,
    moment,
    read_json,
    read_xml,
)
from yunbao.org.models import Shift
from yunbao.testing import stored_photo
from yunbao.workorders import actions as orders
from yunbao.workorders.models import Photo, Source, Status, WorkOrder

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    """This module reads the error texts in the source language (English); the default,
    Chinese, is checked in test_read."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _second(at: datetime | None) -> datetime:
    """A stored time to the second, as the answers write it."""
    assert at is not None
    return at.replace(microsecond=0)


def form(town: Town, **extra: Any) -> dict[str, Any]:
    lat, lon = town.world.point1()
    return {
        "api_key": town.key,
        "service_code": "E9901",
        "lat": str(lat),
        "long": str(lon),
        "description": "路口一堆垃圾",
        **extra,
    }


def post(
    client: Client,
    town: Town,
    fmt: str = "json",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    return client.post(f"{BASE}/requests.{fmt}", form(town, **extra), headers=headers or {})


def attributes(town: Town) -> None:
    category = town.world.category
    ServiceAttribute.objects.create(
        category=category, code="bags", datatype=Datatype.NUMBER, order=1, description="几袋？"
    )
    ServiceAttribute.objects.create(
        category=category,
        code="blocking",
        datatype=Datatype.SINGLE,
        required=True,
        order=2,
        description="挡路吗？",
        values=[{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}],
    )
    ServiceAttribute.objects.create(
        category=category,
        code="kinds",
        datatype=Datatype.MULTI,
        order=3,
        description="什么垃圾？",
        values=[
            {"key": "bag", "name": "袋装"},
            {"key": "loose", "name": "散落"},
            {"key": "big", "name": "大件"},
        ],
    )
    ServiceAttribute.objects.create(
        category=category,
        code="seen",
        datatype=Datatype.DATETIME,
        order=4,
        description="何时看到？",
    )
    ServiceAttribute.objects.create(
        category=category,
        code="note",
        variable=False,
        datatype=Datatype.TEXT,
        order=0,
        description="请注意安全",
    )


# --- POST requests --------------------------------------------------------------------------


def test_a_post_creates_the_order_and_then_appears_with_the_routing_applied(
    client: Client, town: Town, settings: Any
) -> None:
    world = town.world
    settings.YUNBAO_DECIDE_ON_SUBMIT = True  # as in production; tasks run inline in tests
    settings.YUNBAO_AUTO_DISPATCH = True
    settings.YUNBAO_AUTO_DISPATCH_THRESHOLD = 0.8
    clear_caches()
    RoutingRule.objects.create(category=world.category, area=world.street1, unit=world.unit1)
    for day in range(7):
        Shift.objects.create(user=world.users["bob"], weekday=day, start="00:00", end="00:00")

    response = post(
        client,
        town,
        account_id="acc-7",
        email="me@example.org",
        first_name="小明",
        phone="13900001111",
    )
    assert response.status_code == 200
    created = read_json(response)
    assert len(created) == 1
    number = created[0]["service_request_id"]
    assert isinstance(number, str)
    assert created[0]["account_id"] == "acc-7"
    assert created[0]["service_notice"]
    order = WorkOrder.objects.get(number=number)
    assert order.source == Source.OPEN311
    assert order.reporter_phone == "13900001111"  # kept for staff …
    assert created[0]["token"] == Submission.objects.get(order=order).tracking_token
    town.api_client.refresh_from_db()
    assert town.api_client.last_used_at is not None
    details = RequestDetails.objects.get(order=order)
    assert (details.client, details.email, details.account_id) == (
        town.api_client,
        "me@example.org",
        "acc-7",
    )

    found = client.get(f"{BASE}/requests.json").json()
    assert [r["service_request_id"] for r in found] == [number]
    record = found[0]
    assert record["agency_responsible"] == "一街环卫"  # routed to unit one and dispatched
    assert record["status"] == "open"
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED
    assert order.worker == world.users["bob"]
    assert moment(record["expected_datetime"]) == _second(order.handle_due)
    body = client.get(f"{BASE}/requests.xml").content.decode()
    assert number in body
    for private in ("me@example.org", "acc-7", "13900001111", "小明"):
        assert private not in body  # … never shown


def test_a_post_answers_in_xml_too(client: Client, town: Town) -> None:
    response = post(client, town, fmt="xml")
    assert response.status_code == 200
    root, content = read_xml(response)
    assert root == "service_requests"
    number = content[0]["service_request_id"]
    assert WorkOrder.objects.filter(number=number).exists()
    assert content[0]["account_id"] == ""


def test_the_api_key_is_checked_before_anything_else(client: Client, town: Town) -> None:
    inactive = ApiClient.objects.create(
        name="off", key_prefix="o311_offoffof", key_hash="0" * 64, active=False
    )
    assert inactive.pk
    wrong_secret = town.key[:-1] + ("y" if town.key.endswith("x") else "x")
    for key in ("", "nonsense", wrong_secret, "o311_offoffof" + "a" * 40):
        for fmt in ("xml", "json"):
            response = client.post(
                f"{BASE}/requests.{fmt}", {**form(town, service_code=""), "api_key": key}
            )
            assert response.status_code == 403
            content = read_json(response) if fmt == "json" else read_xml(response)[1]
            assert error_descriptions(content, 403) == ["api_key is missing or not valid."]
    assert not WorkOrder.objects.exists()


def test_a_deactivated_client_is_refused(client: Client, town: Town) -> None:
    ApiClient.objects.filter(pk=town.api_client.pk).update(active=False)
    assert post(client, town).status_code == 403


def test_every_problem_of_a_post_is_named_at_once(client: Client, town: Town) -> None:
    attributes(town)
    data = form(
        town,
        email="not-an-email",
        media_url="ftp://example.org/x.jpg",
        description="长" * 4001,
        **{
            "attribute[bags]": "many",
            "attribute[colour]": "red",
            "attribute[kinds][]": ["bag", "gold"],
        },
    )
    del data["long"]
    for fmt in ("xml", "json"):
        response = client.post(f"{BASE}/requests.{fmt}", data)
        assert response.status_code == 400
        content = read_json(response) if fmt == "json" else read_xml(response)[1]
        problems = error_descriptions(content, 400)
        joined = " | ".join(problems)
        for expected in (
            "attribute[colour]",
            "attribute[bags]",
            "attribute[blocking] is required",
            "attribute[kinds]",
            "lat and long go together",
            "description is too long",
            "email",
            "media_url",
        ):
            assert expected in joined, (expected, problems)
        assert len(problems) == 8
    assert not WorkOrder.objects.exists()


def test_a_post_may_carry_a_description_as_long_as_the_spec_allows(
    client: Client, town: Town
) -> None:
    # Longer than the report page's limit, within GeoReport's 4,000 characters.
    text = "长" * 4000
    response = post(client, town, description=text)
    assert response.status_code == 200, response.content
    assert WorkOrder.objects.get().description == text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"service_code": ""}, "service_code is required."),
        ({"service_code": "NOPE"}, "service_code “NOPE” is not a service."),
        (
            {"lat": "", "long": ""},
            "A location is required: lat and long, address_string or address_id.",
        ),
        (
            {"lat": "", "long": "", "address_id": "NOWHERE"},
            "address_id is not an area of this jurisdiction.",
        ),
        ({"lat": "", "long": "", "address_string": "月球"}, "address_string cannot be located"),
        ({"lat": "91", "long": "113"}, "lat:"),
        ({"lat": "nan", "long": "113"}, "lat:"),
        ({"lat": "23.5", "long": "114.5"}, "lat:"),  # outside every grid: refused by policy
        ({"phone": "call me"}, "phone:"),
        ({"first_name": "名" * 40}, "first_name:"),
        ({"description": "长" * 4001}, "description is too long"),  # the spec's limit
    ],
)
def test_a_bad_post_is_400_and_changes_nothing(
    client: Client,
    town: Town,
    change: dict[str, str],
    expected: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    _, content, status = both(client, "requests", method="post", data=form(town, **change))
    assert status == 400
    problems = error_descriptions(content, 400)
    assert any(p.startswith(expected) for p in problems), problems
    assert not WorkOrder.objects.exists()
    assert "open311" in logs.text
    assert "400" in logs.text


def test_a_point_in_another_jurisdiction_is_refused(client: Client, town: Town) -> None:
    from yunbao.open311.models import Jurisdiction

    Jurisdiction.objects.create(
        jurisdiction_id="street2.example", name="二街", area=town.world.street2
    )
    response = post(client, town, jurisdiction_id="street2.example")
    assert response.status_code == 400
    assert error_descriptions(response.json(), 400) == [
        "lat and long are outside this jurisdiction."
    ]
    response = post(client, town)
    assert response.status_code == 400  # two jurisdictions: the id is required
    response = post(client, town, jurisdiction_id="nowhere.example")
    assert response.status_code == 404


def test_attributes_are_checked_and_kept(client: Client, town: Town) -> None:
    attributes(town)
    response = client.post(
        f"{BASE}/requests.json",
        form(
            town,
            **{
                "attribute[bags]": "3",
                "attribute[blocking]": "yes",
                "attribute[kinds][]": ["loose", "bag", "loose"],
                "attribute[seen]": "2024-05-01T08:00:00+08:00",
            },
        ),
    )
    assert response.status_code == 200, response.content
    order = WorkOrder.objects.get(number=response.json()[0]["service_request_id"])
    assert order.open311.attributes == {
        "bags": 3,
        "blocking": "yes",
        "kinds": ["bag", "loose"],
        "seen": "2024-05-01T08:00:00+08:00",
    }


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (
            {"attribute[blocking]": "maybe"},
            "attribute[blocking]: “maybe” is not one of its values.",
        ),
        ({"attribute[blocking]": ["yes", "no"]}, "attribute[blocking] takes one value."),
        (
            {"attribute[blocking]": "yes", "attribute[bags]": "inf"},
            "attribute[bags] must be a number.",
        ),
        (
            {"attribute[blocking]": "yes", "attribute[seen]": "last week"},
            "attribute[seen] must be a W3C date-time.",
        ),
        (
            {"attribute[blocking]": "yes", "attribute[note]": "x"},
            "attribute[note] is not an attribute of this service.",
        ),
        ({"attribute[blocking]": ""}, "attribute[blocking] is required."),
    ],
)
def test_a_wrong_attribute_is_400(
    client: Client, town: Town, answers: dict[str, Any], expected: str
) -> None:
    attributes(town)
    response = client.post(f"{BASE}/requests.json", form(town, **answers))
    assert response.status_code == 400
    assert error_descriptions(response.json(), 400) == [expected]


def test_a_location_by_area_code_or_name(client: Client, town: Town) -> None:
    by_id = post(client, town, lat="", long="", address_id="T010102")
    assert by_id.status_code == 200, by_id.content
    order = WorkOrder.objects.get(number=by_id.json()[0]["service_request_id"])
    grid = town.world.grid1b
    assert (order.lat, order.lon, order.grid) == (grid.center_lat, grid.center_lon, grid)
    by_name = post(client, town, lat="", long="", address_string="二格", description="二格的垃圾")
    assert by_name.status_code == 200, by_name.content
    order = WorkOrder.objects.get(number=by_name.json()[0]["service_request_id"])
    assert order.grid == town.world.grid2
    assert order.open311.address_string == "二格"


def test_a_photo_goes_through_intake_and_is_the_media_url(
    client: Client, town: Town, settings: Any
) -> None:
    settings.YUNBAO_PUBLIC_URL = "https://yb.example.org"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "JPEG")
    upload = SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")
    response = client.post(
        f"{BASE}/requests.json",
        {**form(town, media_url="https://cdn.example.org/p.jpg"), "media": upload},
    )
    assert response.status_code == 200, response.content
    number = response.json()[0]["service_request_id"]
    photo = Photo.objects.get(order__number=number)
    record = client.get(f"{BASE}/requests/{number}.json").json()[0]
    assert record["media_url"] == f"https://yb.example.org/media/{photo.image.name}"
    # The client's own URL is kept for staff, never fetched and never published.
    assert (
        RequestDetails.objects.get(order__number=number).media_url
        == "https://cdn.example.org/p.jpg"
    )
    assert "cdn.example.org" not in client.get(f"{BASE}/requests.xml").content.decode()
    bad = SimpleUploadedFile("p.jpg", b"not an image", content_type="image/jpeg")
    response = client.post(f"{BASE}/requests.json", {**form(town), "media": bad})
    assert response.status_code == 400
    assert error_descriptions(response.json(), 400)[0].startswith("media:")


def test_a_replay_with_the_same_idempotency_key_makes_no_second_order(
    client: Client, town: Town
) -> None:
    headers = {"Idempotency-Key": "client-request-0001", "Accept-Language": "en"}
    first = post(client, town, headers=headers)
    again = post(client, town, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert WorkOrder.objects.count() == 1
    # The same key for another request is refused …
    other = post(client, town, headers=headers, description="另一件事")
    assert other.status_code == 400
    assert "already used" in error_descriptions(other.json(), 400)[0]
    # … attributes and contact details count too …
    other = post(client, town, headers=headers, account_id="someone-else")
    assert other.status_code == 400
    # … and another client's same key is its own.
    from yunbao.open311.actions import create_client

    _, key2 = create_client("Second app")
    response = client.post(
        f"{BASE}/requests.json", {**form(town), "api_key": key2}, headers=headers
    )
    assert response.status_code == 200
    assert WorkOrder.objects.count() == 2
    # Without a key every POST is a new request (the duplicate check may still merge it).
    post(client, town)
    assert WorkOrder.objects.count() == 3


def test_a_duplicate_is_merged_and_the_notice_says_so(client: Client, town: Town) -> None:
    # The same spot, category and text a moment later: intake merges it automatically.
    first = post(client, town).json()[0]["service_request_id"]
    second = client.post(f"{BASE}/requests.json", form(town), HTTP_ACCEPT_LANGUAGE="en").json()[0]
    order = WorkOrder.objects.get(number=second["service_request_id"])
    assert order.duplicate_of is not None
    assert order.duplicate_of.number == first
    assert first in second["service_notice"]
    record = client.get(f"{BASE}/requests/{order.number}.json", HTTP_ACCEPT_LANGUAGE="en").json()[0]
    assert record["status"] == "closed"
    assert record["status_notes"] == f"Duplicate of {first}."


# --- Updates --------------------------------------------------------------------------------


def test_updates_list_public_moves_and_client_notes(client: Client, town: Town) -> None:
    world = town.world
    number = post(client, town, phone="13900001111").json()[0]["service_request_id"]
    order = WorkOrder.objects.get(number=number)
    orders.accept(order, actor=world.users["alice"], note="内部：分类已确认")
    orders.dispatch(order, actor=world.users["alice"], unit=world.unit1, worker=world.users["bob"])
    orders.start(order, actor=world.users["bob"])
    orders.finish(
        order, actor=world.users["bob"], note="已清理，联系13900001111", photos=[stored_photo()]
    )
    orders.verify(order, actor=world.users["carol"])
    note = client.post(
        f"{BASE}/servicerequestupdates.json",
        {
            "api_key": town.key,
            "service_request_id": number,
            "description": "居民说谢谢",
            "update_id": "u-1",
            "status": "CLOSED",
        },
    )
    assert note.status_code == 200, note.content
    note_id = note.json()[0]["update_id"]
    assert isinstance(note_id, str)

    _xml, data, status = both(client, "servicerequestupdates")
    assert status == 200
    assert next(u["update_id"] for u in data) == note_id  # newest first
    by_description = {u["description"]: u for u in data}
    assert by_description["居民说谢谢"]["status"] == "closed"
    finish = by_description["已清理，联系139****1111"]
    assert finish["status"] == "open"
    assert finish["media_url"].endswith(".jpg")
    assert "内部：分类已确认" not in by_description  # accept notes are internal
    assert all(u["service_request_id"] == number for u in data)
    assert data[-1]["description"] == "Reported" or data[-1]["status"] == "open"
    assert {u["status"] for u in data} == {"open", "closed"}
    assert len({u["update_id"] for u in data}) == len(data) == 7  # 6 moves and the note
    for u in data:
        assert moment(u["updated_datetime"])
    paged = client.get(f"{BASE}/servicerequestupdates.json", {"page_size": "2", "page": "2"}).json()
    assert [u["update_id"] for u in paged] == [u["update_id"] for u in data[2:4]]
    later = client.get(
        f"{BASE}/servicerequestupdates.json",
        {"start_date": (timezone.now() + timedelta(minutes=1)).isoformat()},
    ).json()
    assert later == []
    order.refresh_from_db()
    assert order.status == Status.CLOSED  # the client's status is recorded, not applied
    assert ClientUpdate.objects.get().status == "closed"


def test_posting_an_update_leaves_the_order_alone_and_replays_by_update_id(
    client: Client, town: Town
) -> None:
    number = post(client, town).json()[0]["service_request_id"]
    order = WorkOrder.objects.get(number=number)
    before = (order.status, order.updated_at, order.timeline.count())
    data = {
        "api_key": town.key,
        "service_request_id": number,
        "description": "补充：在公交站旁",
        "update_id": "x9",
        "updated_datetime": "2024-05-01T08:00:00Z",
    }
    _xml, first, status = both(client, "servicerequestupdates", method="post", data=data)
    assert status == 200
    assert ClientUpdate.objects.count() == 1  # the JSON call was a replay of the XML one
    assert first == [{"update_id": ClientUpdate.objects.get().update_id}]
    order.refresh_from_db()
    assert (order.status, order.updated_at, order.timeline.count()) == before
    changed = client.post(f"{BASE}/servicerequestupdates.json", {**data, "description": "别的"})
    assert changed.status_code == 400
    assert error_descriptions(changed.json(), 400) == [
        "update_id was already used for a different update."
    ]


def test_update_errors(client: Client, town: Town) -> None:
    number = post(client, town).json()[0]["service_request_id"]
    _, content, status = both(
        client,
        "servicerequestupdates",
        method="post",
        data={"service_request_id": number, "description": "x"},
    )
    assert status == 403
    _, content, status = both(
        client,
        "servicerequestupdates",
        method="post",
        data={
            "api_key": town.key,
            "status": "pending",
            "updated_datetime": "soon",
            "media_url": "javascript:alert(1)",
        },
    )
    assert status == 400
    problems = error_descriptions(content, 400)
    assert len(problems) == 5, problems
    _, content, status = both(
        client,
        "servicerequestupdates",
        method="post",
        data={"api_key": town.key, "service_request_id": "YB-NOPE", "description": "x"},
    )
    assert status == 404
    _, content, status = both(
        client, "servicerequestupdates", data={"start_date": "2024-01-01", "end_date": "2024-12-31"}
    )
    assert status == 400
    assert not ClientUpdate.objects.exists()


def test_updates_of_some_requests_in_a_few_queries(
    client: Client, town: Town, django_assert_max_num_queries: Any
) -> None:
    first = post(client, town, description="第一件").json()[0]["service_request_id"]
    lat, lon = town.world.point2()
    second = post(client, town, description="第二件", lat=str(lat), long=str(lon)).json()[0][
        "service_request_id"
    ]
    for n in range(3):
        client.post(
            f"{BASE}/servicerequestupdates.json",
            {"api_key": town.key, "service_request_id": second, "description": f"补充{n}"},
        )
    with django_assert_max_num_queries(5):
        found = client.get(
            f"{BASE}/servicerequestupdates.json",
            {"service_request_id": second},
            HTTP_ACCEPT_LANGUAGE="en",
        ).json()
    assert [u["description"] for u in found] == ["补充2", "补充1", "补充0", "Reported"]
    assert {u["service_request_id"] for u in found} == {second}
    everything = client.get(f"{BASE}/servicerequestupdates.json").json()
    assert {u["service_request_id"] for u in everything} == {first, second}
