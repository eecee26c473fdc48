"""Fixtures of the notify tests: a real HTTP receiver on 127.0.0.1 in a thread, settings
for local delivery with a controlled clock, and endpoints for the named world."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

OK_ROBOT = (200, {"errcode": 0, "errmsg": "ok"}, 0.0)


@dataclass
class Received:
    path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; answers from `script` (status, JSON, delay s), then OK."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, Any, float]] = field(default_factory=list)
    # Delivery ids a webhook receiver has acted on: how a receiver deduplicates.
    processed: set[str] = field(default_factory=set)
    effects: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, status: int, body: Any = None, delay: float = 0.0) -> None:
        self.script.append((status, body if body is not None else {}, delay))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            with state.lock:
                state.requests.append(
                    Received(
                        parts.path,
                        parts.query,
                        {k: v[0] for k, v in parse_qs(parts.query).items()},
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                status, answer, delay = state.script.pop(0) if state.script else OK_ROBOT
                delivery = self.headers.get("X-Yunbao-Delivery")
                if status == 200 and delivery and delivery not in state.processed:
                    state.processed.add(delivery)
                    state.effects.append(delivery)
            if delay:
                time.sleep(delay)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def notify_settings(settings: Any) -> Any:
    settings.YUNBAO_NOTIFY_ALLOW_HTTP = True
    # Tests drive delivery themselves, with a clock of their own.
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = False
    settings.YUNBAO_NOTIFY_EMAIL = True
    settings.YUNBAO_NOTIFY_TIMEOUT = 2.0
    settings.YUNBAO_NOTIFY_BACKOFF_SECONDS = 30.0
    settings.YUNBAO_NOTIFY_BACKOFF_MAX_SECONDS = 3600.0
    settings.YUNBAO_NOTIFY_MAX_ATTEMPTS = 4
    settings.YUNBAO_NOTIFY_LEASE_SECONDS = 300.0
    settings.YUNBAO_PUBLIC_URL = "https://yunbao.test"
    return settings


def free_port() -> int:
    """A local port nobody listens on (connection refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
