"""`EMAIL_URL` parsing: each scheme, defaults, and clear errors."""

from __future__ import annotations

import pytest

from yunbao.notify.emailurl import CONSOLE, SMTP, parse_email_url


def test_empty_means_email_off_with_django_defaults() -> None:
    settings = parse_email_url("")
    assert settings["EMAIL_BACKEND"] == SMTP
    assert settings["EMAIL_HOST"] == "localhost"


def test_smtp_with_starttls_and_an_encoded_password() -> None:
    settings = parse_email_url("smtp+tls://yunbao%40example.org:p%40ss%3Aword@mail.example:2525")
    assert settings == {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "mail.example",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "yunbao@example.org",
        "EMAIL_HOST_PASSWORD": "p@ss:word",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
    }


def test_default_ports_and_tls_modes() -> None:
    assert parse_email_url("smtps://mail.example")["EMAIL_PORT"] == 465
    assert parse_email_url("smtps://mail.example")["EMAIL_USE_SSL"] is True
    assert parse_email_url("smtp://relay")["EMAIL_PORT"] == 25
    assert parse_email_url("console://")["EMAIL_BACKEND"] == CONSOLE


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("imap://mail.example", "not one of"),
        ("smtp://", "a host is required"),
        ("smtp://mail.example:port", "not a URL"),
    ],
)
def test_bad_urls_name_the_setting(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^setting EMAIL_URL: .*{message}"):
        parse_email_url(raw)
