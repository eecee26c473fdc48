"""Browser fixtures: Debian's headless Chromium driven by Playwright, and screenshots.

The browser is Debian's `chromium` (`make browser` installs it); Playwright's own browser
downloads are never used. Without /usr/bin/chromium the browser tests are skipped, except
when CI=true, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from yunbao.conf import BASE_DIR

# Playwright's sync API runs an event loop in the test thread; Django would then refuse the
# ORM calls the tests make (fixtures, refresh_from_db) as "async unsafe". They are not: the
# loop only drives the browser.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = BASE_DIR / "var" / "screenshots"

# Named viewports: a mid-range phone and a desk.
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run `make browser` to install Debian's chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the browser tests must run, but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """`open_page("phone")` → a fresh page (own cookies) in that viewport, in Chinese."""
    contexts: list[Any] = []

    def open_page(viewport: str = "desktop") -> Any:
        context = browser.new_context(
            **VIEWPORTS[viewport],
            base_url=live_server.url,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.viewport_name = viewport
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Any]) -> Any:
    return open_page("desktop")


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """`screenshot(page, "step")` saves var/screenshots/<test>-<step>-<viewport>.png."""
    test = re.sub(r"[^\w-]+", "_", request.node.name).strip("_")

    def screenshot(page: Any, step: str = "") -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = "-".join(part for part in (test, step, page.viewport_name) if part)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return screenshot
