"""The pages in a real browser: log in, dispatch, handle, verify, and what outsiders get.

Each test drives Debian's headless Chromium through the live server, asserts what the page
says, and saves screenshots under var/screenshots/ for a person to look at. Expected texts
are computed with Django's gettext, so the tests hold with or without the Chinese catalogue.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import translation
from PIL import Image
from playwright.sync_api import Page, expect

from yunbao.workorders.models import Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to

pytestmark = pytest.mark.browser

ZH, EN = "zh-hans", "en"


def t(message: Any, language: str = ZH) -> str:
    """`message` (a string or a lazy label) as the page shows it in `language`."""
    with translation.override(language):
        return str(translation.gettext(message) if isinstance(message, str) else message)


def hello(name: str, language: str = ZH) -> str:
    return t("Hello, %(name)s", language) % {"name": name}


def log_in(page: Page, name: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", "pw-" + name)
    page.click("main button.primary")
    expect(page.locator("main h1")).to_have_text(hello(name))


def panel(page: Page, title: Any, language: str = ZH) -> Any:
    """The home page's card whose heading starts with `title`."""
    return page.locator("section.card").filter(
        has=page.locator("h2", has_text=re.compile("^" + re.escape(t(title, language))))
    )


def badge(page: Page) -> Any:
    return page.locator(".order-head h1 .status").first


def fill_move(page: Page, action: str, **fields: str) -> Any:
    """Open the action's fold on the order page and fill its fields; → its form."""
    form = page.locator(f"form[action$='/move/{action}/']")
    fold = page.locator("details").filter(has=form)
    if fold.get_attribute("open") is None:
        fold.locator("summary").click()
    for name, value in fields.items():
        field = form.locator(f"[name={action}-{name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    return form


def move(page: Page, action: str, **fields: str) -> None:
    """Make a move from the order page: open its fold, fill its fields, press its button."""
    fill_move(page, action, **fields).locator("button.primary").click()


def expect_status(page: Page, status: Status) -> None:
    expect(badge(page)).to_have_text(t(status.label))
    expect(badge(page)).to_have_class(re.compile(rf"\bs-{status.value}\b"))


TAP_TARGETS = "button, input:not([type=hidden]), select, textarea, summary, .top a, .order-row a"


def assert_fits_phone(page: Page) -> None:
    """Nothing runs off the side of a phone screen, and the controls are big enough to tap."""
    page.wait_for_load_state("load")  # measure with the stylesheet applied
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    small = page.evaluate(
        """selector => [...document.querySelectorAll(selector)]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
            .filter(([, h]) => h < 44)""",
        TAP_TARGETS,
    )
    assert not small, f"tap targets under 44px high: {small}"


def fonts_of(page: Page, selector: str) -> list[str]:
    """The font families Chromium really drew `selector`'s text with (not the CSS wish list)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return [f["familyName"] for f in fonts if f["glyphCount"]]


def test_login_on_a_phone_in_chinese_and_english(world, open_page, screenshot, live_server):
    page = open_page("phone")
    page.goto("/")
    assert page.url == f"{live_server.url}/login/?next=/"
    expect(page.locator("html")).to_have_attribute("lang", ZH)
    expect(page.locator("main h1")).to_have_text(t("Log in"))
    expect(page.locator("form.lang button")).to_have_text("English")
    expect(page.locator(".brand")).to_contain_text("云报")
    drawn_with = fonts_of(page, ".brand")
    assert any("CJK" in family for family in drawn_with), f"云报 drawn with {drawn_with}"
    assert_fits_phone(page)
    screenshot(page, "zh")

    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not-her-password")
    page.click("main button.primary")
    error = page.locator("main .message.error")
    expect(error).to_have_text(t("Your username and password didn't match. Please try again."))
    expect(page.locator("input[name=username]")).to_have_value("alice")
    assert_fits_phone(page)
    screenshot(page, "wrong-password-zh")

    page.click("form.lang button")  # posts to set_language and comes back
    expect(page.locator("html")).to_have_attribute("lang", EN)
    expect(page.locator("main h1")).to_have_text("Log in")
    expect(page.locator("form.lang button")).to_have_text("中文")
    assert page.url == f"{live_server.url}/login/?next=/"
    assert_fits_phone(page)
    screenshot(page, "en")

    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-alice")
    page.click("main button.primary")
    expect(page.locator("main h1")).to_have_text(hello("alice", EN))
    assert page.url == f"{live_server.url}/"
    expect(page.locator(".top .who")).to_have_text("alice")
    expect(panel(page, "Waiting to be accepted", EN)).to_be_visible()
    assert_fits_phone(page)
    screenshot(page, "home-en")


def test_dispatcher_accepts_and_dispatches_on_a_desk(world, open_page, screenshot, live_server):
    order = bring_to(world, Status.SUBMITTED)
    page = open_page("desktop")
    log_in(page, "alice")
    queue = panel(page, "Waiting to be accepted")
    expect(queue.locator(".order-row")).to_have_count(1)
    expect(queue.locator(".order-row")).to_contain_text(order.number)
    expect(queue.locator(".order-row .status")).to_have_text(t(Status.SUBMITTED.label))
    screenshot(page, "home")

    queue.locator(".order-row a").click()
    assert page.url == f"{live_server.url}/orders/{order.number}/"
    expect(page.locator("main h1")).to_contain_text(order.number)
    expect(page.locator("svg.map polygon.map-area")).to_have_count(1)
    expect(page.locator("svg.map circle.map-point")).to_have_count(1)
    deadlines = page.locator("table.deadlines tr")
    expect(deadlines).to_have_count(5)
    expect(deadlines.nth(1)).to_contain_text(t("Accept"))
    expect(deadlines.nth(1).locator("td").nth(1)).to_have_text(
        re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")
    )
    timeline = page.locator("ol.timeline > li")
    expect(timeline).to_have_count(1)
    expect_status(page, Status.SUBMITTED)
    expect(page.locator(".facts")).to_contain_text("13800000000")  # staff see the contact
    screenshot(page, "submitted")

    move(page, "accept")
    expect_status(page, Status.ACCEPTED)
    expect(page.locator("main .message.success")).to_have_text(t("Accept (file)"))
    expect(timeline).to_have_count(2)
    expect(deadlines.nth(1).locator("td").nth(2)).not_to_have_text("—")

    form = fill_move(page, "dispatch", unit=str(world.unit1.pk), worker=str(world.users["bob"].pk))
    expect(form.locator("select")).to_have_count(2)
    screenshot(page, "dispatching")
    form.locator("button.primary").click()
    expect_status(page, Status.DISPATCHED)
    expect(timeline).to_have_count(3)
    expect(timeline.last).to_contain_text(t("Dispatch"))
    expect(timeline.last).to_contain_text("alice")
    expect(page.locator(".facts")).to_contain_text(world.unit1.name)
    expect(page.locator(".facts")).to_contain_text("bob")
    screenshot(page, "dispatched")

    order.refresh_from_db()
    assert (order.status, order.unit, order.worker) == (
        Status.DISPATCHED,
        world.unit1,
        world.users["bob"],
    )


def after_photo(folder):
    path = folder / "after.jpg"
    Image.new("RGB", (1200, 900), (90, 160, 90)).save(path, "JPEG")
    return path


def test_worker_handles_on_a_phone_and_supervisor_closes(world, open_page, screenshot, tmp_path):
    order = bring_to(world, Status.DISPATCHED)
    page = open_page("phone")
    log_in(page, "bob")
    tasks = panel(page, "My tasks")
    expect(tasks.locator(".order-row")).to_have_count(1)
    expect(tasks.locator(".order-row")).to_contain_text(order.number)
    assert_fits_phone(page)
    screenshot(page, "home")

    tasks.locator(".order-row a").click()
    expect_status(page, Status.DISPATCHED)
    assert_fits_phone(page)
    screenshot(page, "dispatched")
    move(page, "start")
    expect_status(page, Status.IN_PROGRESS)
    # Finishing needs an after-photo: the order page sends the worker to the task page.
    expect(page.locator("form[action$='/move/finish/']")).to_have_count(0)
    page.locator(f".move-link a[href$='/field/tasks/{order.number}/']").first.click()
    finish = page.locator("form[data-action=finish]")
    finish.locator("textarea[name=note]").fill("已清理干净，垃圾已运走")
    page.set_input_files("#after-photos", str(after_photo(tmp_path)))
    expect(page.locator("#after-thumbs img")).to_have_count(1, timeout=15_000)
    assert_fits_phone(page)
    screenshot(page, "finishing")
    finish.locator("button.primary").click()
    expect(page.locator(".order-head h1 .status")).to_contain_text(t(Status.HANDLED.label))
    page.goto(f"/orders/{order.number}/")
    expect_status(page, Status.HANDLED)
    expect(page.locator("ol.timeline > li").last).to_contain_text("已清理干净，垃圾已运走")
    assert_fits_phone(page)
    screenshot(page, "handled")

    carol = open_page("phone")
    log_in(carol, "carol")
    checks = panel(carol, "Waiting to be checked")
    expect(checks.locator(".order-row")).to_contain_text(order.number)
    checks.locator(".order-row a").click()
    expect_status(carol, Status.HANDLED)
    move(carol, "verify")
    expect_status(carol, Status.CLOSED)
    expect(carol.locator("ol.timeline > li")).to_have_count(6)  # submit … verify
    expect(carol.locator("ol.timeline > li").last).to_contain_text("carol")
    assert_fits_phone(carol)
    screenshot(carol, "closed")
    order.refresh_from_db()
    assert order.status == Status.CLOSED
    assert order.closed_at is not None


def test_an_outsider_gets_not_found(world, open_page, screenshot):
    order: WorkOrder = bring_to(world, Status.DISPATCHED)
    page = open_page("desktop")
    log_in(page, "olga")
    expect(page.locator("main")).not_to_contain_text(order.number)
    response = page.goto(f"/orders/{order.number}/")
    assert response is not None
    assert response.status == 404
    body = page.locator("body")
    expect(body).not_to_contain_text(order.number)
    expect(body).not_to_contain_text("路边有垃圾")
    expect(page.locator("main h1")).to_have_text(t("Page not found"))
    screenshot(page, "not-found")
    expect(page.locator(".top .who")).to_have_text("olga")  # the site's own page, logged in
    page.locator("main a").click()
    expect(page.locator("main h1")).to_have_text(hello("olga"))
