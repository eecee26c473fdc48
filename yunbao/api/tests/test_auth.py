"""Who is calling: API tokens (made once, hashed, revocable, expiring) and the browser's
session with its CSRF check."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from yunbao.api import tokens
from yunbao.api.models import ApiToken
from yunbao.api.tests.conftest import ApiClient, assert_error, known
from yunbao.lib import apikeys

TOKENS = "/api/v1/tokens"


def browser(user: Any) -> tuple[Client, str]:
    """A logged-in browser that enforces CSRF, and its CSRF token (from the docs page)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/docs").status_code == 200
    return client, client.cookies["csrftoken"].value


def test_a_logged_in_browser_makes_a_token_shown_once(world: Any) -> None:
    client, csrf = browser(world.users["alice"])
    response = client.post(
        TOKENS,
        {"name": "dispatch script", "days": 30},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 201, response.content
    made = response.json()
    plain = made["token"]
    assert plain.startswith("yb_")
    assert made["prefix"] == apikeys.split_prefix(plain)
    stored = ApiToken.objects.get(pk=made["id"])
    # Only the hash is stored, never the key.
    assert stored.key_hash == apikeys.hash_key(plain)
    assert plain not in stored.key_hash
    assert timedelta(days=29) < known(stored.expires_at) - timezone.now() <= timedelta(days=30)
    listed = client.get(TOKENS).json()["results"]
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0]
    assert plain not in str(listed)
    # The key works as a bearer token, as the person who made it.
    mine = ApiClient(plain).get("/api/v1/orders")
    assert mine.status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_a_session_post_without_the_csrf_token_is_refused(world: Any) -> None:
    client, _ = browser(world.users["alice"])
    response = client.post(TOKENS, {"name": "x"}, content_type="application/json")
    assert_error(response, 403)
    assert not ApiToken.objects.exists()
    # Reading needs no CSRF token.
    assert client.get(TOKENS).status_code == 200


def test_a_token_cannot_make_more_tokens(world: Any, as_user: Any) -> None:
    response = as_user("alice").post(TOKENS, {"name": "child"})
    assert_error(response, 403)
    assert ApiToken.objects.filter(user=world.users["alice"]).count() == 1


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("", "none"),
        ("Bearer", "empty"),
        ("Bearer yb_notarealtoken", "malformed"),
        ("Basic YWxpY2U6cHctYWxpY2U=", "another scheme"),
        ("Bearer " + "yb_" + "A" * 48, "well-formed, unknown"),
        ("Bearer " + "x" * 5000, "huge"),
    ],
)
def test_no_valid_credentials_is_401_in_the_one_error_shape(
    world: Any, header: str, why: str
) -> None:
    extra: dict[str, Any] = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get("/api/v1/orders", **extra)
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_at_once(world: Any) -> None:
    token, plain = tokens.create_token(user=world.users["bob"], name="phone")
    client = ApiClient(plain)
    assert client.get("/api/v1/orders").status_code == 200
    response = client.delete(f"{TOKENS}/{token.pk}")  # a script revokes its own token
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert_error(client.get("/api/v1/orders"), 401)
    # Revoking again changes nothing (and needs other credentials now).
    other, _ = browser(world.users["bob"])
    again = other.delete(f"{TOKENS}/{token.pk}", HTTP_X_CSRFTOKEN=other.cookies["csrftoken"].value)
    assert again.status_code == 200
    assert again.json()["revoked_at"] == response.json()["revoked_at"]


def test_an_expired_token_or_an_inactive_user_is_refused(world: Any) -> None:
    token, plain = tokens.create_token(user=world.users["carol"], name="old", days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(ApiClient(plain).get("/api/v1/orders"), 401)
    _, fresh = tokens.create_token(user=world.users["carol"], name="new")
    carol = world.users["carol"]
    carol.is_active = False
    carol.save()
    assert_error(ApiClient(fresh).get("/api/v1/orders"), 401)


def test_someone_elses_token_is_a_404(world: Any, as_user: Any) -> None:
    token, plain = tokens.create_token(user=world.users["bob"], name="phone")
    assert_error(as_user("alice").delete(f"{TOKENS}/{token.pk}"), 404)
    assert_error(as_user("alice").delete(f"{TOKENS}/{2**70}"), 404)
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiClient(plain).get("/api/v1/orders").status_code == 200


def test_token_names_lives_and_counts_are_checked(world: Any, settings: Any) -> None:
    settings.YUNBAO_API_TOKEN_DAYS = 90
    client, csrf = browser(world.users["erin"])

    def make(data: dict[str, Any]) -> Any:
        return client.post(TOKENS, data, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)

    assert_error(make({"name": ""}), 422, "name")
    assert_error(make({"name": "a\x00b"}), 422, "name")
    assert_error(make({"name": "x", "days": 0}), 422, "days")
    assert_error(make({"name": "x", "days": 91}), 422, "days")
    default = make({"name": "default life"}).json()
    assert default["expires_at"] is not None
    for i in range(tokens.MAX_ACTIVE_TOKENS - 1):
        tokens.create_token(user=world.users["erin"], name=f"t{i}")
    assert_error(make({"name": "one too many"}), 422, "name")


def test_tokens_never_expire_when_the_setting_is_zero(world: Any, settings: Any) -> None:
    settings.YUNBAO_API_TOKEN_DAYS = 0
    token, _ = tokens.create_token(user=world.users["erin"], name="forever")
    assert token.expires_at is None
    token, _ = tokens.create_token(user=world.users["erin"], name="short", days=7)
    assert token.expires_at is not None


def test_the_check_finds_the_row_by_prefix_and_compares_the_hash(world: Any) -> None:
    token, plain = tokens.create_token(user=world.users["dave"], name="x")
    # Same prefix, different secret: refused.
    forged = plain[:-1] + ("A" if plain[-1] != "A" else "B")
    assert apikeys.split_prefix(forged) == token.prefix
    assert tokens.authenticate(forged) is None
    assert tokens.authenticate(plain) == token
    # Another namespace's key (an Open311 key) is not an API token.
    other, _, _ = apikeys.new_key("o311")
    assert tokens.authenticate(other) is None


def test_a_token_acts_with_exactly_its_owners_rights(world: Any, as_user: Any) -> None:
    from yunbao.workorders.tests.helpers import new_order

    order = new_order(world)  # street one
    assert as_user("alice").get(f"/api/v1/orders/{order.number}").status_code == 200
    assert_error(as_user("olga").get(f"/api/v1/orders/{order.number}"), 404)
