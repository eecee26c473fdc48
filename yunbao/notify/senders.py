"""The channels: WeCom and DingTalk group robots, the signed JSON webhook, and email.

Every sender either returns (delivered), raises `NotDelivered` (the target certainly did
not get it: refused connection, unknown host, TLS failure, an HTTP error status, a robot's
non-zero `errcode`, an SMTP refusal), or raises `Unknown` (it may have arrived: the request
went out but no answer came, e.g. a read timeout). The difference matters: a not-delivered
message is simply tried again, an unknown one only where the receiver can deduplicate.

HTTP goes through `http.client` so that the phases are visible (connect, send, answer),
with `NOTIFY_TIMEOUT` on each socket operation, no proxies and no redirects (a robot or
webhook URL that redirects is a configuration error and reported as such). Error texts
name the host, never the URL: robot URLs carry their credentials.

Signatures:

- DingTalk: `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))
  added to the URL's query, as the DingTalk robot documentation specifies.
- Webhook: the JSON body carries `timestamp` (Unix seconds) and the delivery `id`; the
  headers `X-Yunbao-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`,
  `X-Yunbao-Delivery` (the same for every try of one message: dedupe on it),
  `X-Yunbao-Event` and `X-Yunbao-Timestamp`. A receiver checks the signature over the raw
  body, refuses timestamps more than a few minutes old, and ignores a delivery id it has
  already processed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import translation
from django.utils.translation import gettext as _

from yunbao.notify.models import Channel, Endpoint, Message

# WeCom refuses markdown content over 4096 bytes; keep a margin.
WECOM_MAX_BYTES = 4000
RESPONSE_KEEP = 500
USER_AGENT = "Yunbao-Notify/1"


class DeliveryError(Exception):
    def __init__(self, error: str, *, http_status: int | None = None, response: str = ""):
        super().__init__(error)
        self.error = error
        self.http_status = http_status
        self.response = response[:RESPONSE_KEEP]


class NotDelivered(DeliveryError):
    """The target certainly did not get the message; trying again cannot duplicate it."""


class Unknown(DeliveryError):
    """The message may have arrived; trying again could duplicate it."""


@dataclass(frozen=True)
class Delivered:
    http_status: int | None = None
    response: str = ""


def send(message: Message, endpoint: Endpoint, *, timeout: float) -> Delivered:
    """Deliver `message` to `endpoint` or raise `NotDelivered`/`Unknown`."""
    sender = SENDERS.get(endpoint.kind)
    if sender is None:
        raise NotDelivered(f"unknown channel {endpoint.kind!r}")
    return sender(message, endpoint, timeout)


# --- HTTP ----------------------------------------------------------------------------------


def post_json(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> tuple[int, str]:
    """POST `body` to `url`; (status, start of the answer) or NotDelivered/Unknown."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise NotDelivered(f"invalid URL: {exc}") from exc
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise NotDelivered("invalid URL: not an http(s) URL with a host")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            conn.connect()
        except OSError as exc:  # refused, unknown host, unreachable, connect timeout, TLS
            raise NotDelivered(f"cannot connect to {host}: {_describe(exc)}") from exc
        try:
            conn.request(
                "POST",
                target,
                body=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": USER_AGENT,
                    **headers,
                },
            )
        except OSError as exc:
            # The request did not go out whole, so the receiver cannot have acted on it.
            raise NotDelivered(f"sending to {host} failed: {_describe(exc)}") from exc
        try:
            response = conn.getresponse()
            try:
                text = response.read(64 * 1024).decode("utf-8", errors="replace")
            finally:
                response.close()
        except (OSError, http.client.HTTPException) as exc:
            raise Unknown(f"no answer from {host}: {_describe(exc)}") from exc
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise NotDelivered(
            f"{host} answered HTTP {response.status}", http_status=response.status, response=text
        )
    return response.status, text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _robot_answer(status: int, text: str) -> Delivered:
    """WeCom and DingTalk answer 200 with {"errcode": 0, "errmsg": "ok"} when delivered."""
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise NotDelivered(
            "the answer is not the robot's JSON", http_status=status, response=text
        ) from exc
    errcode = answer.get("errcode") if isinstance(answer, dict) else None
    if errcode != 0:
        errmsg = answer.get("errmsg", "") if isinstance(answer, dict) else ""
        raise NotDelivered(
            f"the robot refused: errcode {errcode}: {errmsg}", http_status=status, response=text
        )
    return Delivered(status, text)


def _link_line(message: Message) -> str:
    url = (message.payload.get("order") or {}).get("url")
    if not url:
        return ""
    with translation.override(settings.LANGUAGE_CODE):
        return f"[{_('Open the order')}]({url})"


def _truncate_bytes(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "…"


def send_wecom(message: Message, endpoint: Endpoint, timeout: float) -> Delivered:
    content = "\n".join(
        line for line in (f"**{message.subject}**", message.body, _link_line(message)) if line
    )
    body = {
        "msgtype": "markdown",
        "markdown": {"content": _truncate_bytes(content, WECOM_MAX_BYTES)},
    }
    status, text = post_json(endpoint.address, _json(body), {}, timeout=timeout)
    return _robot_answer(status, text)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of `timestamp_ms`, base64 (not yet URL-encoded)."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def send_dingtalk(message: Message, endpoint: Endpoint, timeout: float) -> Delivered:
    url = endpoint.address
    if endpoint.secret:
        timestamp = int(time.time() * 1000)
        sign = quote_plus(dingtalk_sign(endpoint.secret, timestamp))
        url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={sign}"
    text = "\n\n".join(
        part for part in (f"#### {message.subject}", message.body, _link_line(message)) if part
    )
    body = {"msgtype": "markdown", "markdown": {"title": message.subject, "text": text}}
    status, answer = post_json(url, _json(body), {}, timeout=timeout)
    return _robot_answer(status, answer)


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_body(message: Message, timestamp: int) -> bytes:
    return _json(
        {
            "id": str(message.delivery_id),
            "event": message.event,
            "timestamp": timestamp,
            "attempt": message.attempts,
            "subject": message.subject,
            "body": message.body,
            "order": message.payload.get("order"),
            "data": message.payload.get("data", {}),
            "created_at": message.created_at.isoformat(),
        }
    )


def send_webhook(message: Message, endpoint: Endpoint, timeout: float) -> Delivered:
    if not endpoint.secret:
        raise NotDelivered("the webhook has no secret to sign with")
    timestamp = int(time.time())
    body = webhook_body(message, timestamp)
    headers = {
        "X-Yunbao-Event": message.event,
        "X-Yunbao-Delivery": str(message.delivery_id),
        "X-Yunbao-Timestamp": str(timestamp),
        "X-Yunbao-Signature": webhook_signature(endpoint.secret, body),
    }
    status, text = post_json(endpoint.address, body, headers, timeout=timeout)
    return Delivered(status, text[:RESPONSE_KEEP])


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- Email ---------------------------------------------------------------------------------


def send_email(message: Message, endpoint: Endpoint, timeout: float) -> Delivered:
    link = (message.payload.get("order") or {}).get("url")
    text = message.body + (f"\n\n{link}" if link else "")
    mail = EmailMessage(
        subject=message.subject,
        body=text,
        to=[endpoint.address],
        # A stable Message-ID: mail systems that see the same one twice may drop the copy.
        headers={"Message-ID": f"<{message.delivery_id}@yunbao>"},
        connection=get_connection(fail_silently=False, timeout=timeout),
    )
    try:
        sent = mail.send()
    except smtplib.SMTPResponseException as exc:
        # The server answered with an error code: it did not take the message.
        raise NotDelivered(f"the mail server refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPConnectError) as exc:
        raise NotDelivered(f"the mail server refused: {exc}") from exc
    except (ConnectionRefusedError, socket.gaierror, ssl.SSLError) as exc:
        raise NotDelivered(f"cannot connect to the mail server: {_describe(exc)}") from exc
    except OSError as exc:  # a timeout or a dropped connection, perhaps after the data
        raise Unknown(f"mail server: {_describe(exc)}") from exc
    if not sent:
        raise NotDelivered("the mail backend sent nothing")
    return Delivered()


SENDERS: dict[str, Callable[[Message, Endpoint, float], Delivered]] = {
    Channel.WECOM: send_wecom,
    Channel.DINGTALK: send_dingtalk,
    Channel.WEBHOOK: send_webhook,
    Channel.EMAIL: send_email,
}
