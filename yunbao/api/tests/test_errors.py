"""One error shape for every failure, hostile input refused before it reaches the
database, and the documentation (schema and docs page)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from yunbao.api.main import api
from yunbao.api.tests.conftest import assert_error


def test_unknown_routes_answer_404_in_the_api_shape(world: Any, as_user: Any) -> None:
    assert_error(Client().get("/api/v1/nothing/here"), 404)
    assert_error(as_user("ada").post("/api/v1/orders/X/teleport", {}), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/YB%00/",
        "/api/v1/orders?category=E%0001",
        "/api/v1/reports/nearby?lat=23&lon=113&category=a%00b",
        "/api/v1/reports/YB%001/me-too",
    ],
)
def test_nul_characters_are_refused_everywhere(world: Any, as_user: Any, path: str) -> None:
    assert_error(as_user("dave").get(path), 422)


def test_nul_in_a_form_field_is_refused(world: Any) -> None:
    lat, lon = world.point1()
    response = Client().post(
        "/api/v1/reports",
        {"lat": str(lat), "lon": str(lon), "description": "a\x00b"},
        HTTP_IDEMPOTENCY_KEY="abcdefgh1234",
    )
    assert_error(response, 422, "description")


def test_malformed_json_is_a_422(world: Any, as_user: Any) -> None:
    client = as_user("alice")
    response = client.client.post(
        "/api/v1/orders/YB1/accept",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {client.token}",
    )
    assert response.status_code in (400, 422)
    assert set(response.json()) == {"detail", "errors"}


def test_an_unexpected_failure_is_a_logged_500_in_the_api_shape(
    world: Any, as_user: Any, monkeypatch: Any, caplog: Any
) -> None:
    from yunbao.api.routes import orders

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(orders, "paginate", broken)
    with caplog.at_level(logging.ERROR, logger="yunbao.api"):
        response = as_user("dave").get("/api/v1/orders")
    assert_error(response, 500)
    assert "boom" not in response.content.decode()
    assert "API GET /api/v1/orders failed" in caplog.text


def test_every_route_documents_its_errors_in_the_one_shape() -> None:
    schema = api.get_openapi_schema()
    assert "ErrorOut" in schema["components"]["schemas"]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            answers = operation["responses"]
            assert {"422", "429"} <= set(answers), (method, path)
            assert "Retry-After" in answers["429"]["headers"]
            if operation.get("security"):
                assert "401" in answers, (method, path)
            for code, answer in answers.items():
                if code.startswith("4"):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorOut"), (method, path, code)
    security = schema["components"]["securitySchemes"]
    assert {s["type"] for s in security.values()} == {"http", "apiKey"}


def test_the_docs_page_serves_swagger_from_our_own_files_with_the_csrf_token(world: Any) -> None:
    client = Client()
    client.force_login(world.users["alice"])
    page = client.get("/api/v1/docs")
    html = page.content.decode()
    assert page.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html
    assert client.cookies["csrftoken"].value
    assert 'data-api-csrf="true"' in html
