"""Rate limits: per token, per logged-in user, per IP address; 429 with Retry-After in the
one error shape."""

from __future__ import annotations

from typing import Any

from django.test import Client

from yunbao.api import throttle, tokens
from yunbao.api.tests.conftest import ApiClient, assert_error


def test_a_token_gets_its_limit_then_429_with_retry_after(
    world: Any, as_user: Any, settings: Any
) -> None:
    settings.YUNBAO_API_RATE_LIMIT = 3
    alice = as_user("alice")
    assert [alice.get("/api/v1/orders").status_code for _ in range(3)] == [200, 200, 200]
    refused = alice.get("/api/v1/orders")
    body = assert_error(refused, 429)
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= 60
    assert str(wait) in body["detail"]
    # Another person's token has its own counter.
    assert as_user("dave").get("/api/v1/orders").status_code == 200


def test_two_tokens_of_one_person_count_apart(world: Any, settings: Any) -> None:
    settings.YUNBAO_API_RATE_LIMIT = 1
    _, first = tokens.create_token(user=world.users["bob"], name="phone")
    _, second = tokens.create_token(user=world.users["bob"], name="tablet")
    assert ApiClient(first).get("/api/v1/orders").status_code == 200
    assert ApiClient(first).get("/api/v1/orders").status_code == 429
    assert ApiClient(second).get("/api/v1/orders").status_code == 200


def test_a_session_user_is_counted_as_themselves(world: Any, settings: Any) -> None:
    settings.YUNBAO_API_RATE_LIMIT = 2
    client = Client()
    client.force_login(world.users["carol"])
    assert [client.get("/api/v1/orders").status_code for _ in range(3)] == [200, 200, 429]
    other = Client()
    other.force_login(world.users["fay"])
    assert other.get("/api/v1/orders").status_code == 200


def test_anonymous_requests_count_per_address_also_on_public_routes(
    world: Any, settings: Any
) -> None:
    settings.YUNBAO_API_ANON_RATE_LIMIT = 2
    first = Client(REMOTE_ADDR="203.0.113.7")
    assert first.get("/api/v1/catalog").status_code == 200
    assert first.get("/api/v1/catalog").status_code == 200
    assert_error(first.get("/api/v1/catalog"), 429)
    # Refused credentials count too, and are answered 429 once the address is over.
    assert_error(first.get("/api/v1/orders"), 429)
    assert Client(REMOTE_ADDR="203.0.113.8").get("/api/v1/catalog").status_code == 200


def test_guessing_tokens_is_limited_by_address(world: Any, settings: Any) -> None:
    settings.YUNBAO_API_ANON_RATE_LIMIT = 3
    guesser = ApiClient("yb_" + "G" * 48, REMOTE_ADDR="198.51.100.1")
    statuses = [guesser.get("/api/v1/orders").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(settings: Any, rf: Any) -> None:
    request = rf.get("/", HTTP_X_FORWARDED_FOR="1.1.1.1, 10.0.0.9", REMOTE_ADDR="10.0.0.1")
    settings.YUNBAO_API_TRUSTED_PROXIES = 0
    assert throttle.client_ip(request) == "10.0.0.1"  # the client may write anything there
    settings.YUNBAO_API_TRUSTED_PROXIES = 1
    assert throttle.client_ip(request) == "10.0.0.9"  # what our one proxy saw
    settings.YUNBAO_API_TRUSTED_PROXIES = 2
    assert throttle.client_ip(request) == "1.1.1.1"


def test_spoofed_forwarded_addresses_do_not_reset_the_count(world: Any, settings: Any) -> None:
    settings.YUNBAO_API_ANON_RATE_LIMIT = 1
    settings.YUNBAO_API_TRUSTED_PROXIES = 0
    client = Client(REMOTE_ADDR="192.0.2.5")
    assert client.get("/api/v1/catalog", HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 200
    assert client.get("/api/v1/catalog", HTTP_X_FORWARDED_FOR="5.6.7.8").status_code == 429


def test_zero_turns_a_limit_off(world: Any, as_user: Any, settings: Any) -> None:
    settings.YUNBAO_API_RATE_LIMIT = 0
    alice = as_user("alice")
    assert {alice.get("/api/v1/orders").status_code for _ in range(10)} == {200}


def test_the_window_ends_and_says_when(settings: Any) -> None:
    settings.YUNBAO_API_RATE_LIMIT = 1
    start = 1_000_000_040.0  # 20 s into a minute (1_000_000_020 starts one)
    assert throttle.hit("test:x", 1, now=start) is None
    assert throttle.hit("test:x", 1, now=start + 1) == 39
    # The next window starts afresh.
    assert throttle.hit("test:x", 1, now=start + 40) is None
