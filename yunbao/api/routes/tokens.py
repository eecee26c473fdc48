"""Your own API tokens: make one (its key is shown once), list them, revoke one.

Anyone logged in may hold tokens; a token acts with exactly its owner's rights. A new
token is made only from a logged-in browser session (with its CSRF token), never with
another token: a leaked token cannot mint more. Listing and revoking work either way (a
script may revoke its own token). Someone else's token is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from yunbao.api import tokens
from yunbao.api.auth import AUTH, caller
from yunbao.api.errors import ApiError, responses
from yunbao.api.models import ApiToken
from yunbao.api.pagination import BadCursor, paginate
from yunbao.api.routes.orders import CURSOR
from yunbao.api.schemas import NO_NUL

router = Router(tags=["tokens"], auth=AUTH)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The start of the key, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Recorded at most once a minute.")
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class TokenCreated(TokenOut):
    token: str = Field(
        description="The key: send it as `Authorization: Bearer <token>`. Shown only now."
    )


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=100, pattern=NO_NUL)
    days: int | None = Field(
        None, ge=1, le=3650, description="Life in days (default and maximum: API_TOKEN_DAYS)."
    )


class TokenPage(Schema):
    results: list[TokenOut]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = Field(None, pattern=CURSOR)
    limit: int | None = Field(None, ge=1, le=1000)


def token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "active": token.usable(timezone.now()),
    }


@router.get("/tokens", response=responses(TokenPage, 401, 422, 429), summary="Your API tokens")
def list_tokens(request: HttpRequest, page: Query[PageQuery]) -> TokenPage:
    mine = ApiToken.objects.filter(user_id=caller(request).pk)
    try:
        rows, next_cursor = paginate(mine, order=("-id",), cursor=page.cursor, limit=page.limit)
    except BadCursor as exc:
        raise ApiError(422, str(exc), field="cursor") from exc
    return TokenPage(results=[TokenOut(**token_out(t)) for t in rows], next_cursor=next_cursor)


@router.post(
    "/tokens",
    response=responses(TokenCreated, 401, 403, 422, 429, ok_status=201),
    summary="Make an API token (from a logged-in browser; the key is shown once)",
)
def create_token(request: HttpRequest, data: TokenIn) -> Status[TokenCreated]:
    if getattr(request, "api_token", None) is not None:
        raise ApiError(403, _("Make new tokens while logged in, not with another token."))
    try:
        token, plain = tokens.create_token(user=caller(request), name=data.name, days=data.days)
    except tokens.TokenError as exc:
        raise ApiError(422, str(exc), field=exc.field) from exc
    return Status(201, TokenCreated(**token_out(token), token=plain))


@router.delete(
    "/tokens/{token_id}",
    response=responses(TokenOut, 401, 404, 422, 429),
    summary="Revoke one of your tokens (at once; revoking again changes nothing)",
)
def revoke_token(request: HttpRequest, token_id: int) -> TokenOut:
    token = None
    if 0 < token_id < 2**63:
        token = ApiToken.objects.filter(pk=token_id, user_id=caller(request).pk).first()
    if token is None:
        raise ApiError(404, _("No such token of yours."))
    tokens.revoke_token(token, actor=caller(request))
    return TokenOut(**token_out(token))
