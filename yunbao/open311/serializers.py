"""Open311 documents in XML and JSON, from one plain structure.

Each endpoint builds its answer once, as dicts and lists of str, int, float, bool or None,
and `render` writes it in the asked format: XML through ElementTree (`text/xml`, an XML
declaration, no namespace, list items named as GeoReport v2 names them) or JSON that
mirrors it (a list becomes a bare array, None null, numbers and booleans typed; ids are
strings in both). Text is stripped of the few characters XML 1.0 cannot carry (control
characters a hostile client may have sent), in both formats alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeAlias
from xml.etree.ElementTree import Element, SubElement, tostring

from django.http import HttpResponse
from django.utils import timezone

XML = "xml"
JSON = "json"
FORMATS = (XML, JSON)
CONTENT_TYPES = {XML: "text/xml; charset=utf-8", JSON: "application/json; charset=utf-8"}
# What discovery lists as each format's media type.
MEDIA_TYPES = {XML: "text/xml", JSON: "application/json"}
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'

# The element name of one item of each list, as the GeoReport v2 documents write them.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}

Value: TypeAlias = "str | int | float | bool | list[Any] | dict[str, Any] | None"

# Everything XML 1.0 allows (tab, newline, carriage return and the printable planes).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (NUL and other controls)."""
    return _NOT_XML.sub("", text)


def w3c(moment: datetime | None) -> str | None:
    """A W3C date-time in the server's time zone, with its offset (2024-05-01T08:30:00+08:00)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.get_current_timezone()).isoformat(timespec="seconds")


def w3c_writer() -> Callable[[datetime | None], str | None]:
    """`w3c` with the time zone looked up once, for writing thousands of dates."""
    zone = timezone.get_current_timezone()

    def write(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")

    return write


def _text(value: Any, cleaning: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same number
    return clean(str(value)) if cleaning else str(value)


def _fill(element: Element, name: str, value: Any, cleaning: bool) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(SubElement(element, key), key, item, cleaning)
    elif isinstance(value, list):
        item_name = ITEM_NAMES[name]
        for item in value:
            _fill(SubElement(element, item_name), item_name, item, cleaning)
    else:
        element.text = _text(value, cleaning)


def _xml_text(root: str, data: Value, cleaning: bool) -> str:
    element = Element(root)
    _fill(element, root, data, cleaning)
    return tostring(element, encoding="unicode")


def to_xml(root: str, data: Value) -> bytes:
    # Written as is, then checked in one pass; only a document with a character XML cannot
    # carry (rare: hostile input) is written again with every text cleaned.
    text = _xml_text(root, data, cleaning=False)
    if _NOT_XML.search(text):
        text = _xml_text(root, data, cleaning=True)
    return DECLARATION + text.encode("utf-8")


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


# What JSON shows of a character XML cannot carry: an escaped control character (a false
# alarm on an escaped backslash before b, f or u00 only costs the slow path), or the raw
# non-characters and surrogates.
_JSON_SUSPECT = re.compile(r"\\(?:u00[01]|[bf])|[\ud800-\udfff\ufffe\uffff]")


def to_json(data: Value) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if _JSON_SUSPECT.search(text):
        text = json.dumps(_cleaned(data), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def render(fmt: str, root: str, data: Value, status: int = 200) -> HttpResponse:
    """The response for `data` in format `fmt`; `root` names the XML document element."""
    body = to_xml(root, data) if fmt == XML else to_json(data)
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])


def errors(fmt: str, status: int, descriptions: Iterable[str]) -> HttpResponse:
    """The GeoReport v2 error document: one `error` per problem, each with the HTTP code."""
    return render(
        fmt,
        "errors",
        [{"code": status, "description": str(d)} for d in descriptions],
        status=status,
    )
