"""Schemathesis against the API's own OpenAPI schema, in-process through Django's WSGI app.

For every operation of /api/v1/openapi.json it generates requests from the schema (valid
ones, valid ones aimed at real orders, devices, tokens and subscriptions, and invalid
ones), sends them as a logged-in administrator (session cookie and CSRF token) and checks
that no answer is a server error and every answer conforms to the schema: a documented
status code, its content type, its headers and its body. The number of examples per
operation is bounded (`EXAMPLES`) and derandomized, so the test is reproducible and stays
well under a minute; raise `EXAMPLES` (and turn `derandomize` off) for a deeper search by
hand — 120 random examples per operation (about 4,800 requests) found nothing on SQLite or
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from yunbao.api import tokens, webhooks
from yunbao.fleet.models import Device, DeviceKind, Protocol
from yunbao.workorders.models import Status
from yunbao.workorders.tests.helpers import bring_to

EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    """Django's WSGI application, sharing the test's database transaction: like Django's
    test client, it must not close the connection at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_api_conforms_to_its_own_schema(
    world: Any, wsgi_app: WSGIHandler, settings: Any
) -> None:
    # Rate limits are tested on their own; here they would only cut the run short.
    settings.YUNBAO_API_RATE_LIMIT = 0
    settings.YUNBAO_API_ANON_RATE_LIMIT = 0
    ada = world.users["ada"]
    orders = [bring_to(world, s) for s in (Status.SUBMITTED, Status.IN_PROGRESS, Status.HANDLED)]
    device = Device.objects.create(
        kind=DeviceKind.VEHICLE, protocol=Protocol.JT808, identifier="1399", unit=world.unit1
    )
    token, _ = tokens.create_token(user=ada, name="schemathesis")
    sub, _ = webhooks.create_subscription(
        actor=ada, client="fuzz", url="https://hotline.example/in", events=["created"]
    )
    real: dict[str, list[Any]] = {
        "number": [o.number for o in orders],
        "device_id": [device.pk],
        "token_id": [token.pk],
        "webhook_id": [sub.pk],
    }
    client = Client()
    client.force_login(ada)
    csrf = get_random_string(32)
    auth = {
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
        "headers": {"X-CSRFToken": csrf},
    }

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 35
    calls = 0
    statuses: set[int] = set()
    for operation in operations:
        names = [p.name for p in operation.path_parameters]
        fixed = st.fixed_dictionaries({n: st.sampled_from(real[n]) for n in names if n in real})
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        if names:

            def aimed(values: dict[str, Any], op: Any = operation) -> Any:
                return op.as_strategy(GenerationMode.POSITIVE, path_parameters=values)

            strategies.append(fixed.flatmap(aimed))

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def check(case: Any) -> None:
            nonlocal calls
            response = case.call_and_validate(
                headers=auth["headers"], cookies=auth["cookies"], checks=CHECKS
            )
            calls += 1
            statuses.add(response.status_code)

        check()
    # The run reached the routes, not only their refusals.
    assert calls >= len(operations) * 2
    assert {200, 404, 422} <= statuses
