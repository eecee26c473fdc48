"""Per-user API tokens: make (shown once), check, revoke.

A token is a key of `yunbao.lib.apikeys` in the namespace `yb` (`yb_` + 48 letters and
digits), sent as `Authorization: Bearer <token>`. Only its lookup prefix and SHA-256 are
stored. A token acts as its user, with exactly the user's roles and areas; it stops working
when it is revoked, when it expires (`API_TOKEN_DAYS` after it was made, unless asked
shorter) and while its user is deactivated.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.api.models import ApiToken
from yunbao.lib import apikeys

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

log = logging.getLogger(__name__)

NAMESPACE = "yb"
# Tokens a person may hold at once (not revoked, not expired): enough for every script and
# device, few enough that a forgotten one is noticed in the list.
MAX_ACTIVE_TOKENS = 20
# `last_used_at` is written at most this often per token, not on every request.
USE_RECORD_INTERVAL = timedelta(minutes=1)
# The longest life a token may be given when API_TOKEN_DAYS is 0 (no default expiry).
MAX_DAYS = 3650


class TokenError(ValueError):
    """A token that cannot be made as asked; the message says why, `field` about what."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


def active_tokens(user: AbstractBaseUser, now: datetime | None = None) -> list[ApiToken]:
    now = now or timezone.now()
    return [t for t in ApiToken.objects.filter(user_id=user.pk, revoked_at=None) if t.usable(now)]


def create_token(
    *, user: AbstractBaseUser, name: str, days: int | None = None, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it with its plain key, which is never stored."""
    now = now or timezone.now()
    name = (name or "").strip()
    if not name:
        raise TokenError(_("Give the token a name (what or who uses it)."))
    if len(name) > 100:
        raise TokenError(_("A token name has at most 100 characters."))
    limit = settings.YUNBAO_API_TOKEN_DAYS or MAX_DAYS
    if days is None:
        days = settings.YUNBAO_API_TOKEN_DAYS or None
    elif not 1 <= days <= limit:
        raise TokenError(
            _("A token lives from 1 to %(limit)d days.") % {"limit": limit}, field="days"
        )
    if len(active_tokens(user, now)) >= MAX_ACTIVE_TOKENS:
        raise TokenError(
            _("You already have %(n)d tokens; revoke one you no longer use.")
            % {"n": MAX_ACTIVE_TOKENS}
        )
    plain, prefix, digest = apikeys.new_key(NAMESPACE)
    token = ApiToken.objects.create(
        user_id=user.pk,
        name=name,
        prefix=prefix,
        key_hash=digest,
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    log.info("API token %s (%s) made for %s", token.prefix, token.name, user)
    return token, plain


def revoke_token(token: ApiToken, *, actor: AbstractBaseUser, now: datetime | None = None) -> bool:
    """Revoke `token`; False if it was revoked already."""
    now = now or timezone.now()
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=now)
    if changed:
        token.revoked_at = now
        log.info("API token %s of %s revoked by %s", token.prefix, token.user_id, actor)
    return bool(changed)


def authenticate(plain: str, now: datetime | None = None) -> ApiToken | None:
    """The usable token whose key is `plain` (with its user loaded), or None."""
    prefix = apikeys.split_prefix(plain)
    if not prefix.startswith(f"{NAMESPACE}_"):
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    # The prefix is no secret (the admin shows it); the secret part is compared in
    # constant time by `matches`.
    if token is None or not apikeys.matches(plain, token.key_hash):
        return None
    now = now or timezone.now()
    if not token.usable(now) or not token.user.is_active:
        log.info("API token %s refused: revoked, expired or its user is inactive", prefix)
        return None
    if token.last_used_at is None or now - token.last_used_at >= USE_RECORD_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
