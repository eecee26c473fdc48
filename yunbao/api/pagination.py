"""Cursor pagination, the same on every list of the API.

A list answers `{"results": [...], "next_cursor": "…" | null}`; the next page is asked with
`?cursor=<next_cursor>` (and the same filters). `limit` is the page size: `API_PAGE_SIZE`
when not given, at most `API_MAX_PAGE_SIZE` (a larger one is lowered).

The cursor is the sort key of the page's last row (keyset pagination), base64 of a JSON
list: pages stay right while new rows arrive, and a page costs one indexed query however
deep it is. A cursor the client made up only moves where the page starts within what the
caller may see anyway; one that does not decode is refused (422, field `cursor`).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

M = TypeVar("M", bound=models.Model)

MAX_CURSOR_LENGTH = 200
# The database's largest integer key: a bigger number in a cursor is refused here rather
# than overflowing in PostgreSQL.
MAX_INT = 2**63 - 1


class BadCursor(ValueError):
    """A cursor this API did not make."""


def page_size(limit: int | None) -> int:
    """The page size for a requested `limit` (None: the default), within the maximum."""
    maximum = max(1, settings.YUNBAO_API_MAX_PAGE_SIZE)
    if limit is None:
        return min(max(1, settings.YUNBAO_API_PAGE_SIZE), maximum)
    return min(max(1, limit), maximum)


def _encode(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, fields: list[models.Field[Any, Any]]) -> list[Any]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursor(_("This cursor is not one of ours."))
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadCursor(_("This cursor is not one of ours.")) from exc
    if not isinstance(values, list) or len(values) != len(fields):
        raise BadCursor(_("This cursor is not one of ours."))
    decoded = []
    for field, value in zip(fields, values, strict=True):
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise BadCursor(_("This cursor is not one of ours."))
        if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
            raise BadCursor(_("This cursor is not one of ours."))
        try:
            python = field.to_python(value)
        except (ValidationError, ValueError, TypeError, OverflowError) as exc:
            raise BadCursor(_("This cursor is not one of ours.")) from exc
        if python is None or (isinstance(field, models.DateTimeField) and python.tzinfo is None):
            raise BadCursor(_("This cursor is not one of ours."))
        decoded.append(python)
    return decoded


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def paginate(
    queryset: QuerySet[M], *, order: tuple[str, ...], cursor: str | None, limit: int | None
) -> tuple[list[M], str | None]:
    """One page of `queryset` sorted by `order` (non-null fields, the last one unique, each
    optionally with "-"), after `cursor`; returns the rows and the next page's cursor."""
    size = page_size(limit)
    names = [name.lstrip("-") for name in order]
    try:
        fields = [queryset.model._meta.get_field(name) for name in names]
    except FieldDoesNotExist as exc:  # a programming error, not the client's
        raise AssertionError(f"cannot paginate on {order}") from exc
    queryset = queryset.order_by(*order)
    if cursor:
        after = _decode(cursor, fields)  # type: ignore[arg-type]
        condition = Q()
        for i, name in enumerate(order):
            lookup = "lt" if name.startswith("-") else "gt"
            equal = {names[j]: after[j] for j in range(i)}
            condition |= Q(**equal, **{f"{names[i]}__{lookup}": after[i]})
        queryset = queryset.filter(condition)
    rows = list(queryset[: size + 1])
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last = rows[-1]
    return rows, _encode([_plain(getattr(last, name)) for name in names])
