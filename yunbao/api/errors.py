"""The API's one error shape and the exceptions that produce it.

Every error of `/api/v1/` is `{"detail": "...", "errors": [{"field": "...", "message":
"..."}]}` (the same `ErrorOut` schema the intake routes declared first). Routes raise
`ApiError`; `yunbao.api.main` turns it, and django-ninja's own errors (authentication,
validation, throttling, 404), into that shape.

Status codes mean the same on every route: 401 no valid credentials, 403 not allowed for
this person (role, relation, CSRF), 404 no such thing *that you may see* (another area's
order is a 404, so a number reveals nothing), 409 not possible in the current state (an
order's status, a used idempotency key), 422 bad input, 429 too many requests.
"""

from __future__ import annotations

from typing import Any

from yunbao.intake.api import ErrorOut, FieldError

__all__ = ["ApiError", "ErrorOut", "FieldError", "body", "responses"]


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = [{"field": field, "message": detail}] if field else []
        self.headers = headers or {}


def body(detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or []}


def responses(ok: Any, *codes: int, ok_status: int = 200) -> dict[int, Any]:
    """A route's `response=` mapping: `ok` for success, `ErrorOut` for each error code."""
    return {ok_status: ok, **dict.fromkeys(codes, ErrorOut)}
