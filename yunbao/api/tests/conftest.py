"""Fixtures of the API tests: clients acting as each person of the named world through an
API token, fresh rate-limit counters, and English messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import translation

from yunbao.api import throttle, tokens


@pytest.fixture(autouse=True)
def _fresh_counters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Rate-limit counters live in a process-wide cache: each test starts from zero, in one
    # window (20 s into a minute) however slowly its requests run.
    monkeypatch.setattr(throttle, "clock", lambda: 1_000_000_040.0)
    caches["api-rate"].clear()
    yield
    caches["api-rate"].clear()


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


class ApiClient:
    """A test client sending `Authorization: Bearer <token>` on every request."""

    def __init__(self, token: str = "", **extra: Any) -> None:
        self.client = Client(**extra)
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, Any]:
        result: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}
        if self.token:
            result["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        for name, value in (headers or {}).items():
            result["HTTP_" + name.upper().replace("-", "_")] = value
        return result

    def get(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, data, **self._headers(headers))

    def post(
        self,
        path: str,
        data: Any = None,
        headers: dict[str, str] | None = None,
        multipart: bool = False,
    ) -> Any:
        if multipart:
            return self.client.post(path, data or {}, **self._headers(headers))
        return self.client.post(
            path, data or {}, content_type="application/json", **self._headers(headers)
        )

    def patch(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.patch(
            path, data or {}, content_type="application/json", **self._headers(headers)
        )

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(path, **self._headers(headers))


@pytest.fixture
def as_user(world: Any) -> Callable[[str], ApiClient]:
    """`as_user("alice")`: a client with a fresh API token of that person of the world."""
    made: dict[str, ApiClient] = {}

    def make(name: str) -> ApiClient:
        if name not in made:
            _, plain = tokens.create_token(user=world.users[name], name=f"test {name}")
            made[name] = ApiClient(plain)
        return made[name]

    return make


def known(moment: datetime | None) -> datetime:
    """A deadline the test knows is set."""
    assert moment is not None
    return moment


def assert_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The answer has `status` and the API's one error shape (with `field`, if given)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if field is not None:
        assert field in {e["field"] for e in body["errors"]}, body
    return body
