"""Open311 test helpers: a jurisdiction over the test world, a client key, and readers that
turn an XML or JSON answer into the same plain structure, written from the spec's element
names (not from the code under test), so XML and JSON can be compared field by field."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import translation
from django.utils.dateparse import parse_datetime

from yunbao.open311.actions import create_client
from yunbao.open311.models import ApiClient, Jurisdiction
from yunbao.testing import World

JURISDICTION = "test.yunbao.org"
BASE = "/open311/v2"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
# GeoReport v2's list elements and the name of one item in each.
LISTS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def zh(message: str) -> str:
    """`message` as a client that asks for no language reads it (zh-Hans, the default)."""
    with translation.override("zh-hans"):
        text = translation.gettext(message)
    assert text != message, f"not translated: {message!r}"
    return text


@dataclass
class Town:
    world: World
    jurisdiction: Jurisdiction
    api_client: ApiClient
    key: str


@pytest.fixture
def town(world: World) -> Town:
    jurisdiction = Jurisdiction.objects.create(
        jurisdiction_id=JURISDICTION, name="测试区", area=world.district
    )
    api_client, key = create_client("Test app", "dev@example.org")
    return Town(world, jurisdiction, api_client, key)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures Yunbao's log lines (the yunbao logger does not propagate to the root)."""
    logger = logging.getLogger("yunbao")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="yunbao")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def _element(element: ET.Element) -> Any:
    children = list(element)
    if element.tag in LISTS:
        assert all(c.tag == LISTS[element.tag] for c in children), element.tag
        return [_element(c) for c in children]
    if not children:
        return element.text or ""
    tags = [c.tag for c in children]
    assert len(tags) == len(set(tags)), f"repeated element in {element.tag}"
    return {c.tag: _element(c) for c in children}


def read_xml(response: Any) -> tuple[str, Any]:
    """(root element name, content) of a well-formed XML answer; checks the declaration."""
    assert response["Content-Type"] == XML_TYPE
    assert response.content.startswith(DECLARATION), response.content[:80]
    # Our own server's answer, not untrusted input; raises on anything not well-formed.
    root = ET.fromstring(response.content)  # noqa: S314
    assert "}" not in root.tag  # no namespace
    return root.tag, _element(root)


def read_json(response: Any) -> Any:
    assert response["Content-Type"] == JSON_TYPE
    return json.loads(response.content)


def moment(text: str) -> datetime:
    """A W3C date-time of an answer, which must carry its zone."""
    parsed = parse_datetime(text)
    assert parsed is not None, text
    assert parsed.tzinfo is not None, text
    return parsed


def as_xml_text(value: Any) -> Any:
    """A JSON value as the XML answer writes it (all text; null is an empty element)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return [as_xml_text(v) for v in value]
    if isinstance(value, dict):
        return {k: as_xml_text(v) for k, v in value.items()}
    return value


def both(client: Client, path: str, method: str = "get", **kwargs: Any) -> tuple[Any, Any, int]:
    """Ask for `path` (without its suffix) as XML and as JSON; checks that JSON mirrors XML
    and both have the same status. Returns (xml content, json content, status)."""
    send = getattr(client, method)
    xml_response = send(f"{BASE}/{path}.xml", **kwargs)
    json_response = send(f"{BASE}/{path}.json", **kwargs)
    assert xml_response.status_code == json_response.status_code
    _, xml_content = read_xml(xml_response)
    json_content = read_json(json_response)
    assert as_xml_text(json_content) == xml_content
    return xml_content, json_content, xml_response.status_code


def error_descriptions(content: Any, status: int) -> list[str]:
    """The descriptions of an errors document, checking each error carries the status."""
    assert isinstance(content, list)
    assert content
    assert all(str(e["code"]) == str(status) for e in content)
    return [e["description"] for e in content]
