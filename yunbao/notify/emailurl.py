"""`EMAIL_URL` → Django's email settings (framework-free: `yunbao.settings` imports it).

    smtp://user:password@host:25        plain SMTP (an internal relay)
    smtp+tls://user:password@host:587   SMTP with STARTTLS
    smtps://user:password@host:465      SMTP over TLS
    console://                          print mails to standard output (demo)
    (empty)                             no email: the email channel is off

User and password are percent-decoded, so a password with `@` or `:` is written `%40`/`%3A`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

SMTP = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE = "django.core.mail.backends.console.EmailBackend"
_PORTS = {"smtp": 25, "smtp+tls": 587, "smtps": 465}


def parse_email_url(raw: str) -> dict[str, Any]:
    """Django's EMAIL_* settings for `raw` (all keys, Django's defaults where unused);
    ValueError names the setting. Empty `raw` gives the defaults: email is off."""
    raw = raw.strip()
    settings: dict[str, Any] = {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "localhost",
        "EMAIL_PORT": 25,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }
    if not raw:
        return settings
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"setting EMAIL_URL: not a URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme == "console":
        return {**settings, "EMAIL_BACKEND": CONSOLE}
    if scheme not in _PORTS:
        raise ValueError(
            f"setting EMAIL_URL: scheme {scheme or '(none)'!r} is not one of "
            "smtp, smtp+tls, smtps, console"
        )
    if not parts.hostname:
        raise ValueError("setting EMAIL_URL: a host is required, e.g. smtp://mail.example:25")
    return {
        **settings,
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or _PORTS[scheme],
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": scheme == "smtp+tls",
        "EMAIL_USE_SSL": scheme == "smtps",
    }
