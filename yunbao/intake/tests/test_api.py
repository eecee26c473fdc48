"""The intake API and pages: one order per report, clear errors for bad input, nothing leaked."""

from __future__ import annotations

import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from PIL import Image

from yunbao.geo.coords import wgs84_to_gcj02
from yunbao.intake import actions
from yunbao.intake.models import MeToo, Submission
from yunbao.workorders.models import Photo, Status, WorkOrder

URL = "/api/v1/reports"


def jpeg(*, gps: tuple[float, float] | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, "orange")
    exif = Image.Exif()
    exif[0x0110] = "Test phone"  # Model: something identifying that must not survive
    if gps is not None:
        lat, lon = gps

        def dms(value: float) -> tuple[float, float, float]:
            degrees = int(value)
            minutes = int((value - degrees) * 60)
            return (degrees, minutes, round(((value - degrees) * 60 - minutes) * 60, 4))

        exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def post(client: Client, key: str | None = None, **fields: Any) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(URL, fields, headers=headers)


def point(world: Any) -> dict[str, Any]:
    lat, lon = world.point1()
    return {"lat": str(lat), "lon": str(lon), "description": "路口垃圾很多"}


def new_key() -> str:
    return uuid.uuid4().hex


def test_it_creates_one_order_and_a_tracking_page(world: Any) -> None:
    client = Client()
    response = post(
        client,
        new_key(),
        **point(world),
        nickname="王阿姨",
        phone="13912345678",
        photos=[upload("p.jpg", jpeg())],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    order = WorkOrder.objects.get(number=body["number"])
    assert (order.status, order.grid, order.reporter_phone) == (
        Status.SUBMITTED,
        world.grid1,
        "13912345678",
    )
    assert order.photos.count() == 1
    page = client.get(body["tracking_url"])
    assert page.status_code == 200
    html = page.content.decode()
    assert order.number in html
    assert "13912345678" not in html
    assert "王阿姨" not in html


def test_it_answers_a_retry_with_the_first_result(world: Any) -> None:
    client, key = Client(), new_key()
    first = post(client, key, **point(world))
    again = post(client, key, **point(world))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["number"] == again.json()["number"]
    assert WorkOrder.objects.count() == 1


def test_it_refuses_a_key_reused_for_another_report(world: Any) -> None:
    client, key = Client(), new_key()
    post(client, key, **point(world))
    response = post(client, key, **{**point(world), "description": "另一个问题"})
    assert response.status_code == 409
    assert response.json()["detail"]
    assert WorkOrder.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_makes_one_order_from_concurrent_retries() -> None:
    from yunbao.testing import build_world

    world = build_world()
    lat, lon = world.point1()
    key = new_key()

    def send(_: int) -> str:
        try:
            data = actions.ReportInput(key=key, lat=lat, lon=lon, description="同时重发")
            return actions.submit_report(data, actor=None).order.number
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = list(pool.map(send, range(8)))
    assert len(set(numbers)) == 1
    assert WorkOrder.objects.count() == 1
    assert Submission.objects.filter(key=key).count() == 1


def test_it_requires_an_idempotency_key(world: Any) -> None:
    response = post(Client(), None, **point(world))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "key"
    assert not WorkOrder.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("report.jpg", b"%PDF-1.4\n1 0 obj << >> endobj\n", "photos"),
        ("run.jpg", b"#!/bin/sh\nrm -rf /\n", "photos"),
        ("empty.jpg", b"", "photos"),
    ],
)
def test_it_refuses_a_file_that_is_not_a_photo(
    world: Any, name: str, data: bytes, field: str
) -> None:
    response = post(Client(), new_key(), **point(world), photos=[upload(name, data)])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not WorkOrder.objects.exists()
    assert not Photo.objects.exists()


def test_it_refuses_an_oversized_photo(world: Any, settings: Any) -> None:
    settings.YUNBAO_PHOTO_MAX_BYTES = 2000
    big = jpeg(size=(800, 600))
    assert len(big) > 2000
    response = post(Client(), new_key(), **point(world), photos=[upload("big.jpg", big)])
    assert response.status_code == 400
    assert not WorkOrder.objects.exists()


def test_it_refuses_too_many_photos(world: Any) -> None:
    photos = [upload(f"{i}.jpg", jpeg()) for i in range(7)]
    response = post(Client(), new_key(), **point(world), photos=photos)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "photos"


def test_it_falls_back_to_the_photos_gps_and_strips_exif(world: Any) -> None:
    lat, lon = world.point1()
    response = post(
        Client(), new_key(), description="无定位", photos=[upload("gps.jpg", jpeg(gps=(lat, lon)))]
    )
    assert response.status_code == 201, response.content
    order = WorkOrder.objects.get()
    assert order.grid == world.grid1
    assert abs(order.lat - lat) < 1e-4
    assert order.submission.location_source == "exif"
    photo = order.photos.get()
    with photo.image.open("rb") as stored:
        data = stored.read()
    assert b"Test phone" not in data
    assert not Image.open(io.BytesIO(data)).getexif()


def test_it_uses_the_qr_area_when_the_phone_has_no_location(world: Any) -> None:
    response = post(Client(), new_key(), area=world.grid1b.code, description="扫码")
    assert response.status_code == 201, response.content
    order = WorkOrder.objects.get()
    assert order.grid == world.grid1b
    assert order.submission.location_source == "qr"


def test_it_refuses_an_unknown_qr_area(world: Any) -> None:
    response = post(Client(), new_key(), area="NOPE", description="x")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "area"


def test_it_converts_gcj02_to_wgs84(world: Any) -> None:
    lat, lon = world.point1()
    g_lat, g_lon = wgs84_to_gcj02(lat, lon)
    response = post(Client(), new_key(), lat=str(g_lat), lon=str(g_lon), crs="gcj02")
    assert response.status_code == 201, response.content
    order = WorkOrder.objects.get()
    assert abs(order.lat - lat) < 1e-6
    assert abs(order.lon - lon) < 1e-6


@pytest.mark.parametrize(
    ("lat", "lon"),
    [("nan", "113.0"), ("91", "113.0"), ("23.0", "-181"), ("abc", "113"), ("inf", "113")],
)
def test_it_refuses_impossible_coordinates(world: Any, lat: str, lon: str) -> None:
    response = post(Client(), new_key(), lat=lat, lon=lon)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "lat"
    assert not WorkOrder.objects.exists()


def test_it_refuses_a_point_outside_the_district_by_default(world: Any) -> None:
    response = post(Client(), new_key(), lat="39.9", lon="116.4")
    assert response.status_code == 400
    assert "outside" in response.json()["detail"] or "范围" in response.json()["detail"]
    assert not WorkOrder.objects.exists()


def test_it_accepts_outside_points_for_the_dispatcher_when_configured(
    world: Any, settings: Any
) -> None:
    settings.YUNBAO_OUTSIDE_AREA_POLICY = "accept"
    response = post(Client(), new_key(), lat="39.9", lon="116.4")
    assert response.status_code == 201
    order = WorkOrder.objects.get()
    assert order.grid is None
    assert order.area_path == world.district.path
    assert order in WorkOrder.objects.visible_to(world.users["dave"])


def test_it_escapes_hostile_text(world: Any) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = post(Client(), new_key(), **{**point(world), "description": hostile})
    assert response.status_code == 201
    order = WorkOrder.objects.get()
    assert order.description == hostile
    staff = Client()
    staff.force_login(world.users["alice"])
    for html in (
        staff.get(reverse("order-detail", args=[order.number])).content.decode(),
        Client().get(response.json()["tracking_url"]).content.decode(),
    ):
        assert "<script>alert" not in html
        assert "<img src=x" not in html


def test_it_refuses_other_bad_fields_clearly(world: Any) -> None:
    response = post(Client(), new_key(), **point(world), phone="call me", category="NOPE")
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert "phone" in fields
    long_text = post(Client(), new_key(), **{**point(world), "description": "长" * 501})
    assert long_text.status_code == 400
    assert long_text.json()["errors"][0]["field"] == "description"


def test_it_asks_a_logged_in_reporter_for_the_csrf_token(world: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["fay"])
    response = post(client, new_key(), **point(world))
    assert response.status_code == 403
    assert not WorkOrder.objects.exists()
    page = client.get(reverse("intake-report"))
    token = page.cookies["csrftoken"].value
    response = client.post(
        URL, point(world), headers={"Idempotency-Key": new_key(), "X-CSRFToken": token}
    )
    assert response.status_code == 201, response.content
    order = WorkOrder.objects.get()
    assert order.reporter == world.users["fay"]
    assert order.source == "inspector"


def test_it_lists_my_reports_by_phone(world: Any) -> None:
    mine, other = Client(), Client()
    mine.get(reverse("intake-report"))
    other.get(reverse("intake-report"))
    number = post(mine, new_key(), **point(world)).json()["number"]
    assert number in mine.get(reverse("intake-mine")).content.decode()
    assert number not in other.get(reverse("intake-mine")).content.decode()
    assert [r["number"] for r in mine.get(URL + "/mine").json()] == [number]
    assert other.get(URL + "/mine").json() == []


def test_it_lists_nearby_open_orders_without_personal_data(world: Any) -> None:
    client = Client()
    post(client, new_key(), **point(world), phone="13912345678", nickname="王阿姨")
    lat, lon = world.point1()
    response = client.get(URL + "/nearby", {"lat": lat + 0.0002, "lon": lon, "category": ""})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 1
    assert 15 < results[0]["distance_m"] < 30
    text = json.dumps(response.json(), ensure_ascii=False)
    assert "13912345678" not in text
    assert "王阿姨" not in text
    assert client.get(URL + "/nearby", {"lat": "nan", "lon": lon}).status_code == 400


def test_it_counts_a_me_too_once_per_phone(world: Any) -> None:
    client = Client()
    client.get(reverse("intake-report"))
    number = post(client, new_key(), **point(world)).json()["number"]
    neighbour = Client()
    neighbour.get(reverse("intake-report"))
    assert neighbour.post(f"{URL}/{number}/me-too").json() == {"count": 1}
    assert neighbour.post(f"{URL}/{number}/me-too").json() == {"count": 1}
    assert MeToo.objects.count() == 1
    assert Client().post(f"{URL}/YB000/me-too").status_code == 404


def test_it_merges_an_obvious_duplicate_and_tells_both_reporters(world: Any) -> None:
    fields = {**point(world), "category": world.category.code}
    first = post(Client(), new_key(), **fields).json()
    second_client = Client()
    second = post(second_client, new_key(), **fields).json()
    assert second["merged_into"] == first["number"]
    merged = WorkOrder.objects.get(number=second["number"])
    assert merged.status == Status.MERGED
    page = second_client.get(second["tracking_url"]).content.decode()
    assert first["number"] in page


def test_it_serves_the_report_page_and_its_service_worker(world: Any) -> None:
    client = Client()
    page = client.get(reverse("intake-report"), {"area": world.grid1.code})
    assert page.status_code == 200
    assert world.grid1.name in page.content.decode()
    assert "yb_device" in page.cookies
    sw = client.get(reverse("intake-sw"))
    assert sw.status_code == 200
    assert sw["Content-Type"].startswith("application/javascript")
    assert sw["Service-Worker-Allowed"] == "/report/"


def test_it_documents_the_api_in_openapi(world: Any) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/reports" in schema["paths"]
    post_op = schema["paths"]["/api/v1/reports"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post_op.get("parameters", []))
    assert Client().get("/api/v1/docs").status_code == 200


def test_it_hides_the_tracking_page_without_the_token(world: Any) -> None:
    assert Client().get(reverse("intake-track", args=["not-a-token"])).status_code == 404


def test_it_shows_staff_the_likely_duplicates_and_me_toos(world: Any, settings: Any) -> None:
    settings.YUNBAO_DEDUPE_AUTO_MERGE_SCORE = 1.1  # never merge: suggest instead
    fields = {**point(world), "category": world.category.code}
    first = post(Client(), new_key(), **fields).json()
    second = post(Client(), new_key(), **fields).json()
    assert second["duplicate_suggested"] is True
    neighbour = Client()
    neighbour.get(reverse("intake-report"))
    neighbour.post(f"{URL}/{second['number']}/me-too")
    staff = Client()
    staff.force_login(world.users["alice"])
    html = staff.get(reverse("order-detail", args=[second["number"]])).content.decode()
    assert first["number"] in html
    assert "1" in html
    outsider = Client()
    outsider.force_login(world.users["olga"])
    assert outsider.get(reverse("order-detail", args=[second["number"]])).status_code == 404


# --- the same report as JSON (a mini-program's request without photos) --------------------


def post_json(client: Client, key: str, body: Any) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, raw, content_type="application/json", headers={"Idempotency-Key": key})


def test_a_json_report_makes_the_same_order_as_the_form(world: Any) -> None:
    lat, lon = world.point1()
    body = {"lat": lat, "lon": lon, "description": "路口垃圾很多", "phone": "13912345678"}
    response = post_json(Client(), new_key(), body)
    assert response.status_code == 201, response.content
    order = WorkOrder.objects.get(number=response.json()["number"])
    assert (order.status, order.grid, order.lat, order.lon) == (
        Status.SUBMITTED,
        world.grid1,
        lat,
        lon,
    )
    assert order.reporter_phone == "13912345678"
    assert order.timeline.filter(action="submit").count() == 1
    # Numeric text, as a form sends it, is the same report.
    text = post_json(Client(), new_key(), {**point(world)})
    assert text.status_code == 201, text.content


def test_a_json_retry_gets_the_first_result_and_a_changed_one_is_refused(world: Any) -> None:
    client, key = Client(), new_key()
    lat, lon = world.point1()
    body = {"lat": lat, "lon": lon, "description": "重发"}
    first, again = post_json(client, key, body), post_json(client, key, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["number"] == again.json()["number"]
    changed = post_json(client, key, {**body, "description": "另一个问题"})
    assert changed.status_code == 409
    assert WorkOrder.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        ({"lat": [1], "lon": "113"}, "lat"),
        ({"lat": "23.0", "lon": "113.0", "description": "a\x00b"}, "description"),
        ({"lat": "23.0", "lon": "113.0", "nickname": "\x00"}, "nickname"),
    ],
)
def test_a_bad_json_body_is_refused_by_field(world: Any, body: Any, field: str) -> None:
    response = post_json(Client(), new_key(), body)
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == field
    assert response.json()["detail"]
    assert not WorkOrder.objects.exists()


@pytest.mark.parametrize(("lat", "lon"), [(91, 113.0), (23.0, -181), ("nan", 113), (1e400, 113)])
def test_json_coordinates_are_checked_as_in_a_form(world: Any, lat: Any, lon: Any) -> None:
    response = post_json(Client(), new_key(), {"lat": lat, "lon": lon})
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "lat"
    assert not WorkOrder.objects.exists()


def test_a_json_report_still_needs_its_key_and_a_session_its_csrf_token(world: Any) -> None:
    response = Client().post(URL, json.dumps(point(world)), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "key"
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["fay"])
    assert post_json(client, new_key(), point(world)).status_code == 403
    assert not WorkOrder.objects.exists()


def test_the_schema_documents_the_json_body(world: Any) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    content = schema["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in content
    assert "lat" in content["application/json"]["schema"]["properties"]
