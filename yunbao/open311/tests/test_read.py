"""The public GET endpoints: discovery, services, service definitions, requests (every
filter, the 90-day window, the 1000 limit, paging), one request, tokens; XML and JSON."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from yunbao.catalog.models import Category, Kind, Scene
from yunbao.intake.actions import ReportInput, submit_report
from yunbao.open311.models import Datatype, Jurisdiction, ServiceAttribute
from yunbao.open311.tests.conftest import (
    BASE,
    JURISDICTION,
    Town,
    both,
    error_descriptions,
    moment,
    zh,
)
from yunbao.testing import stored_photo
from yunbao.workorders import actions as orders
from yunbao.workorders.models import Photo, PhotoKind, Status, WorkOrder

pytestmark = pytest.mark.django_db


def _second(at: datetime | None) -> datetime:
    """A stored time to the second, as the answers write it."""
    assert at is not None
    return at.replace(microsecond=0)


def submit(town: Town, *, days_ago: float = 0, text: str = "路边有垃圾", **kw: Any) -> WorkOrder:
    lat, lon = town.world.point1()
    return orders.submit(
        actor=None,
        lat=lat,
        lon=lon,
        description=text,
        category=town.world.category,
        at=timezone.now() - timedelta(days=days_ago),
        **kw,
    )


# --- Discovery and services ----------------------------------------------------------------


def test_discovery_lists_a_production_and_a_test_endpoint(
    client: Client, town: Town, settings: Any
) -> None:
    settings.YUNBAO_PUBLIC_URL = "https://yb.example.org"
    settings.YUNBAO_OPEN311_CONTACT = "open311@example.org"
    settings.YUNBAO_OPEN311_TEST_URL = "https://test.example.org/open311/v2/"
    xml, data, status = both(client, "discovery")
    assert status == 200
    assert data["contact"] == "open311@example.org"
    assert moment(data["changeset"])
    kinds = {e["type"]: e for e in data["endpoints"]}
    assert set(kinds) == {"production", "test"}
    assert kinds["production"]["url"] == "https://yb.example.org/open311/v2/"
    assert kinds["test"]["url"] == "https://test.example.org/open311/v2/"
    for endpoint in data["endpoints"]:
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["formats"] == ["text/xml", "application/json"]
    assert xml["endpoints"][0]["formats"] == ["text/xml", "application/json"]


def test_services_list_the_active_catalogue_with_group_keywords_and_metadata(
    client: Client, town: Town
) -> None:
    category = town.world.category
    category.keywords = "垃圾\n垃圾袋"
    category.save()
    Category.objects.create(
        code="E9902",
        kind=Kind.EVENT,
        major_code="99",
        major_name="测试",
        minor_code="02",
        name="停用",
        active=False,
    )
    other = Category.objects.create(
        code="C9901",
        kind=Kind.COMPONENT,
        major_code="99",
        major_name="测试",
        minor_code="01",
        name="测试部件",
        name_en="Test part",
    )
    ServiceAttribute.objects.create(
        category=other, code="n", description="几个？", datatype="number"
    )
    _, data, status = both(client, "services")
    assert status == 200
    by_code = {s["service_code"]: s for s in data}
    assert "E9902" not in by_code  # inactive
    assert by_code["E9901"]["service_name"] == "测试垃圾"
    assert by_code["E9901"]["group"] == Scene.objects.get(code="test").name
    assert by_code["E9901"]["keywords"] == "垃圾, 垃圾袋"
    assert by_code["E9901"]["metadata"] is False
    assert by_code["C9901"]["metadata"] is True
    assert by_code["C9901"]["group"] is None  # in no scene
    assert all(s["type"] == "realtime" for s in data)
    assert all(s["description"] for s in data)


def test_services_speak_the_requested_language(client: Client, town: Town) -> None:
    zh = client.get(f"{BASE}/services.json").json()
    en = client.get(f"{BASE}/services.json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert {s["service_name"] for s in zh} >= {"测试垃圾"}
    assert {s["service_name"] for s in en} >= {"Test litter"}
    response = client.get(f"{BASE}/services.xml", HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "en"


def test_a_service_definition_lists_its_attributes_in_order(client: Client, town: Town) -> None:
    category = town.world.category
    ServiceAttribute.objects.create(
        category=category,
        code="blocking",
        datatype=Datatype.SINGLE,
        required=True,
        order=2,
        description="挡路吗？",
        description_en="Blocking the road?",
        values=[{"key": "yes", "name": "是", "name_en": "Yes"}, {"key": "no", "name": "否"}],
    )
    ServiceAttribute.objects.create(
        category=category,
        code="bags",
        datatype=Datatype.NUMBER,
        order=1,
        description="几袋？",
        datatype_description="数字",
    )
    xml, data, status = both(client, f"services/{category.code}")
    assert status == 200
    assert data["service_code"] == "E9901"
    assert [a["code"] for a in data["attributes"]] == ["bags", "blocking"]
    bags, blocking = data["attributes"]
    assert bags == {
        "variable": True,
        "code": "bags",
        "datatype": "number",
        "required": False,
        "datatype_description": "数字",
        "order": 1,
        "description": "几袋？",
        "values": [],
    }
    assert blocking["required"] is True
    assert blocking["values"] == [{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}]
    assert xml["attributes"][1]["values"][0] == {"key": "yes", "name": "是"}
    en = client.get(f"{BASE}/services/E9901.json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert en["attributes"][1]["description"] == "Blocking the road?"
    assert en["attributes"][1]["values"] == [
        {"key": "yes", "name": "Yes"},
        {"key": "no", "name": "否"},
    ]


@pytest.mark.parametrize("code", ["NOPE", "E9902"])
def test_an_unknown_or_inactive_service_is_404(client: Client, town: Town, code: str) -> None:
    Category.objects.create(
        code="E9902",
        kind=Kind.EVENT,
        major_code="99",
        major_name="测试",
        minor_code="02",
        name="停用",
        active=False,
    )
    _, data, status = both(client, f"services/{code}")
    assert status == 404
    assert error_descriptions(data, 404)


# --- GET requests ---------------------------------------------------------------------------


def test_a_request_shows_every_field_and_nothing_private(
    client: Client, town: Town, settings: Any
) -> None:
    settings.YUNBAO_PUBLIC_URL = "https://yb.example.org"
    lat, lon = town.world.point1()
    result = submit_report(
        ReportInput(
            key=uuid.uuid4().hex,
            lat=lat,
            lon=lon,
            category="E9901",
            description="门口垃圾，电话13812345678",
            nickname="王小明",
            phone="020-8888777",
        ),
        actor=None,
    )
    order = result.order
    orders.add_photo(order, actor=None, kind=PhotoKind.BEFORE, image=stored_photo().image)
    order.refresh_from_db()
    xml, data, status = both(client, f"requests/{order.number}")
    assert status == 200
    assert len(data) == 1
    record = data[0]
    assert record["service_request_id"] == order.number
    assert isinstance(record["service_request_id"], str)
    assert xml[0]["service_request_id"] == order.number
    assert record["status"] == "open"
    assert record["service_code"] == "E9901"
    assert record["service_name"] == "测试垃圾"
    assert record["description"] == "门口垃圾，电话138****5678"
    assert record["lat"] == order.lat
    assert record["long"] == order.lon
    assert record["address"] == "测试区 一街 一村 一格"
    assert record["address_id"] == "T010101"
    assert record["agency_responsible"] is None  # not dispatched yet
    assert record["expected_datetime"] is None
    assert moment(record["requested_datetime"]) == _second(order.created_at)
    assert moment(record["updated_datetime"])
    photo = Photo.objects.get(order=order)
    assert record["media_url"] == f"https://yb.example.org/media/{photo.image.name}"
    assert set(record) == {
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    }
    for fmt in ("xml", "json"):
        body = client.get(f"{BASE}/requests/{order.number}.{fmt}").content.decode()
        assert "王小明" not in body
        assert "8888777" not in body
        assert "13812345678" not in body
        assert result.submission.key not in body


def test_status_notes_agency_and_expected_follow_the_order(client: Client, town: Town) -> None:
    world = town.world
    order = submit(town)
    orders.accept(order, actor=world.users["alice"])
    orders.dispatch(order, actor=world.users["alice"], unit=world.unit1, worker=world.users["bob"])
    orders.start(order, actor=world.users["bob"])
    record = client.get(f"{BASE}/requests/{order.number}.json").json()[0]
    order.refresh_from_db()
    assert record["agency_responsible"] == "一街环卫"
    assert moment(record["expected_datetime"]) == _second(order.handle_due)
    assert record["status_notes"] is None  # dispatch notes are internal
    orders.finish(order, actor=world.users["bob"], note="已清理干净", photos=[stored_photo()])
    record = client.get(f"{BASE}/requests/{order.number}.json").json()[0]
    order.refresh_from_db()
    assert record["status"] == "open"
    assert record["status_notes"] == "已清理干净"
    assert moment(record["expected_datetime"]) == _second(order.check_due)
    orders.verify(order, actor=world.users["carol"])
    record = client.get(f"{BASE}/requests/{order.number}.json").json()[0]
    assert record["status"] == "closed"


@pytest.mark.parametrize("final", ["reject", "void", "merge"])
def test_rejected_voided_and_merged_orders_are_closed(
    client: Client, town: Town, final: str
) -> None:
    world = town.world
    order = submit(town)
    if final == "reject":
        orders.reject(order, actor=world.users["alice"], note="不属于城管范围")
        notes = "不属于城管范围"
    elif final == "void":
        orders.accept(order, actor=world.users["alice"])
        orders.void(order, actor=world.users["dave"], note="重复录入")
        notes = "重复录入"
    else:
        original = submit(town, text="原始")
        orders.merge(order, actor=world.users["alice"], into=original, note="合并")
        notes = f"Duplicate of {original.number}."
    record = client.get(f"{BASE}/requests/{order.number}.json", HTTP_ACCEPT_LANGUAGE="en").json()[0]
    assert record["status"] == "closed"
    assert record["status_notes"] == notes


def test_requests_default_to_the_last_90_days_newest_first(client: Client, town: Town) -> None:
    old = submit(town, days_ago=100)
    recent = submit(town, days_ago=89)
    new = submit(town)
    _, data, status = both(client, "requests")
    assert status == 200
    assert [r["service_request_id"] for r in data] == [new.number, recent.number]
    assert old.number not in {r["service_request_id"] for r in data}


def test_start_or_end_alone_reaches_90_days(client: Client, town: Town) -> None:
    a = submit(town, days_ago=200)
    b = submit(town, days_ago=150)
    c = submit(town, days_ago=100)
    start = (timezone.now() - timedelta(days=201)).isoformat()
    found = client.get(f"{BASE}/requests.json", {"start_date": start}).json()
    assert [r["service_request_id"] for r in found] == [b.number, a.number]
    end = (timezone.now() - timedelta(days=149)).isoformat()
    found = client.get(f"{BASE}/requests.json", {"end_date": end}).json()
    assert [r["service_request_id"] for r in found] == [b.number, a.number]
    both_ends = {
        "start_date": (timezone.now() - timedelta(days=160)).isoformat(),
        "end_date": (timezone.now() - timedelta(days=90)).isoformat(),
    }
    found = client.get(f"{BASE}/requests.json", both_ends).json()
    assert [r["service_request_id"] for r in found] == [c.number, b.number]


def test_filters_by_status_service_code_and_ids(client: Client, town: Town) -> None:
    world = town.world
    other = Category.objects.create(
        code="E9903",
        kind=Kind.EVENT,
        major_code="99",
        major_name="测试",
        minor_code="03",
        name="另一类",
    )
    litter = submit(town)
    closed = submit(town)
    orders.reject(closed, actor=world.users["alice"], note="无效")
    lat, lon = world.point1()
    another = orders.submit(actor=None, lat=lat, lon=lon, category=other)
    old = submit(town, days_ago=300)

    def ids(**params: str) -> list[str]:
        return [r["service_request_id"] for r in client.get(f"{BASE}/requests.json", params).json()]

    assert ids(status="open") == [another.number, litter.number]
    assert ids(status="closed") == [closed.number]
    assert ids(status="Open") == ids(status="open")
    assert ids(status="open,closed") == [another.number, closed.number, litter.number]
    assert ids(service_code="E9903") == [another.number]
    assert ids(service_code="E9901,E9903", status="closed") == [closed.number]
    assert ids(service_code="NOPE") == []
    # Ids override every other filter, the window included.
    assert ids(service_request_id=f"{old.number}, {litter.number}", status="closed") == [
        litter.number,
        old.number,
    ]
    # An empty parameter is an absent one.
    assert ids(status="", service_code="", start_date="") == ids()


def test_at_most_1000_requests_and_pages_without_a_query_per_order(
    client: Client, town: Town
) -> None:
    template = submit(town)
    stored = stored_photo().image
    orders.add_photo(template, actor=None, kind=PhotoKind.BEFORE, image=stored)
    now = timezone.now()
    rows = [
        WorkOrder(
            number=f"YBTEST{i:06d}",
            status=Status.SUBMITTED if i % 2 else Status.CLOSED,
            category=town.world.category,
            description=f"第{i}个",
            lat=template.lat,
            lon=template.lon,
            grid=template.grid,
            area_path=template.area_path,
            unit=town.world.unit1,
            created_at=now - timedelta(minutes=i + 1),
            handle_due=now + timedelta(days=1),
        )
        for i in range(1004)
    ]
    created = WorkOrder.objects.bulk_create(rows)
    Photo.objects.bulk_create(
        Photo(order=o, kind=PhotoKind.BEFORE, image=stored) for o in created[:500]
    )
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{BASE}/requests.json")
    data = response.json()
    assert len(data) == 1000
    assert data[0]["service_request_id"] == template.number
    assert data[1]["service_request_id"] == "YBTEST000000"
    assert data[1]["agency_responsible"] == "一街环卫"
    assert data[1]["media_url"].endswith(stored)
    assert data[999]["media_url"] is None
    # The jurisdiction, the orders, their areas (and the session/locale machinery: none).
    assert len(queries) <= 4, [q["sql"][:120] for q in queries]
    xml = client.get(f"{BASE}/requests.xml")
    assert xml.content.count(b"<request>") == 1000
    page2 = client.get(f"{BASE}/requests.json", {"page": "2"}).json()
    assert [r["service_request_id"] for r in page2] == [f"YBTEST{i:06d}" for i in range(999, 1004)]
    small = client.get(f"{BASE}/requests.json", {"page_size": "10", "page": "3"}).json()
    assert [r["service_request_id"] for r in small] == [f"YBTEST{i:06d}" for i in range(19, 29)]


# --- One request and tokens -----------------------------------------------------------------


def test_an_unknown_request_is_404_in_both_formats(client: Client, town: Town) -> None:
    _, data, status = both(client, "requests/YB00000000000000")
    assert status == 404
    assert error_descriptions(data, 404)


def test_a_token_gives_the_request_id(client: Client, town: Town) -> None:
    lat, lon = town.world.point1()
    result = submit_report(
        ReportInput(key=uuid.uuid4().hex, lat=lat, lon=lon, category="E9901"), actor=None
    )
    token = result.submission.tracking_token
    xml, data, status = both(client, f"tokens/{token}")
    assert status == 200
    assert data == [{"service_request_id": result.order.number, "token": token}]
    assert xml == data
    _, data, status = both(client, "tokens/not-a-token")
    assert status == 404
    assert error_descriptions(data, 404)


# --- Jurisdictions -------------------------------------------------------------------------


def test_jurisdiction_id_is_optional_with_one_and_checked_when_given(
    client: Client, town: Town
) -> None:
    order = submit(town)
    found = client.get(f"{BASE}/requests.json", {"jurisdiction_id": JURISDICTION}).json()
    assert [r["service_request_id"] for r in found] == [order.number]
    for path in ("services", "requests", f"requests/{order.number}", "services/E9901"):
        _, data, status = both(client, path, data={"jurisdiction_id": "nowhere.example"})
        assert status == 404, path
        assert error_descriptions(data, 404)


def test_with_several_jurisdictions_the_id_is_required_and_each_sees_its_own(
    client: Client, town: Town
) -> None:
    Jurisdiction.objects.create(
        jurisdiction_id="street2.example", name="二街", area=town.world.street2
    )
    mine = submit(town)
    lat, lon = town.world.point2()
    theirs = orders.submit(actor=None, lat=lat, lon=lon, category=town.world.category)
    _, data, status = both(client, "requests")
    assert status == 400
    assert error_descriptions(data, 400) == [zh("jurisdiction_id is required.")]  # the default
    found = client.get(f"{BASE}/requests.json", {"jurisdiction_id": "street2.example"}).json()
    assert [r["service_request_id"] for r in found] == [theirs.number]
    response = client.get(
        f"{BASE}/requests/{mine.number}.json", {"jurisdiction_id": "street2.example"}
    )
    assert response.status_code == 404


# --- Errors --------------------------------------------------------------------------------


def test_every_bad_parameter_is_named_at_once(client: Client, town: Town) -> None:
    _, data, status = both(
        client,
        "requests",
        data={
            "start_date": "yesterday",
            "end_date": "2024-02-30",
            "status": "pending",
            "page": "0",
            "page_size": "5000",
        },
    )
    assert status == 400
    problems = error_descriptions(data, 400)
    assert len(problems) == 5, problems
    joined = " ".join(problems)
    for name in ("start_date", "end_date", "status", "page", "page_size"):
        assert name in joined


def test_a_window_over_90_days_or_backwards_is_400(client: Client, town: Town) -> None:
    _, data, status = both(
        client,
        "requests",
        data={"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-04-01T00:00:01Z"},
    )
    assert status == 400
    assert "90" in error_descriptions(data, 400)[0]
    _, data, status = both(
        client,
        "requests",
        data={"start_date": "2024-04-01T00:00:00+08:00", "end_date": "2024-03-01"},
    )
    assert status == 400
    assert error_descriptions(data, 400) == [zh("end_date is before start_date.")]


def test_unknown_paths_formats_and_methods(client: Client, town: Town) -> None:
    response = client.get(f"{BASE}/requests.csv")
    assert response.status_code == 404
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    response = client.get(f"{BASE}/nothing.json")
    assert response.status_code == 404
    assert error_descriptions(response.json(), 404)
    response = client.get(f"{BASE}/nothing")
    assert response.status_code == 404
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    for method in ("put", "delete", "patch"):
        response = getattr(client, method)(f"{BASE}/requests.json")
        assert response.status_code == 400
        assert "GET" in response["Allow"]
        assert "POST" in response["Allow"]
    response = client.post(f"{BASE}/services.json")
    assert response.status_code == 400
    assert response["Allow"] == "GET, HEAD"


def test_hostile_text_still_gives_well_formed_xml(client: Client, town: Town) -> None:
    order = submit(town, text="<b>&amp;</b>\x01\x07\x1b ]]> 垃圾 \ud7ff")
    _xml, data, status = both(client, f"requests/{order.number}")
    assert status == 200
    assert data[0]["description"] == "<b>&amp;</b> ]]> 垃圾 \ud7ff"
    assert client.get(f"{BASE}/requests.json").headers["Access-Control-Allow-Origin"] == "*"
