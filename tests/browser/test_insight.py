"""The operations centre in a real browser: the district manager's dashboard on a desk
(1366×900), a dispatcher's on a phone (390×844) down to the orders behind a number, and the
big screen on a 1920×1080 wall with its map, lists and polling. Screenshots under
var/screenshots/ show each."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.test_pages import assert_fits_phone, log_in, t
from yunbao.fleet.tests.live_helpers import badge, latest, vehicle
from yunbao.insight.indicators import INDICATORS
from yunbao.insight.store import catch_up
from yunbao.insight.tests.helpers import report_at
from yunbao.sla.models import AlertLevel, SlaAlert
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions

pytestmark = pytest.mark.browser


@pytest.fixture
def month(world: World, settings: Any) -> dict[str, Any]:
    """This month's orders in both streets, in every state, a badge and a vehicle with a
    fix, and an alarm; the aggregates counted."""
    settings.TIME_ZONE = "Asia/Shanghai"
    u = world.users
    now = timezone.now()
    # Within this month and not in the future, whatever day the test runs.
    first = timezone.localtime(now).replace(day=1, hour=8, minute=0, second=0, microsecond=0)
    made: dict[str, Any] = {"closed": []}
    for i in range(4):
        when = min(first + dt.timedelta(hours=2 * i), now - dt.timedelta(hours=4))
        order = report_at(world, when, street=1 + i % 2)
        desk = u["alice"] if i % 2 == 0 else u["olga"]
        worker = u["bob"] if i % 2 == 0 else u["walt"]
        unit = world.unit1 if i % 2 == 0 else world.unit2
        actions.accept(order, actor=desk, at=when + dt.timedelta(minutes=10 + 60 * i))
        actions.dispatch(
            order, actor=desk, unit=unit, worker=worker, at=when + dt.timedelta(minutes=70 * i + 20)
        )
        actions.start(order, actor=worker, at=when + dt.timedelta(minutes=70 * i + 30))
        actions.finish(
            order,
            actor=worker,
            note="已清理",
            photos=[stored_photo()],
            at=when + dt.timedelta(minutes=70 * i + 60),
        )
        actions.verify(order, actor=u["ada"], at=when + dt.timedelta(minutes=70 * i + 90))
        made["closed"].append(order)
    made["overdue"] = report_at(world, now - dt.timedelta(hours=5))
    made["fresh"] = report_at(world, now - dt.timedelta(minutes=20), street=2)
    made["waiting"] = report_at(world, now - dt.timedelta(hours=1))
    actions.accept(made["waiting"], actor=u["alice"], at=now - dt.timedelta(minutes=50))
    SlaAlert.objects.create(
        order=made["overdue"],
        stage="accept",
        due=made["overdue"].accept_due,
        level=AlertLevel.ESCALATION1,
        fired_at=now - dt.timedelta(hours=3),
        batch="00000000-0000-0000-0000-000000000002",
    )
    lat, lon = world.point1()
    latest(badge(u["bob"]), now - dt.timedelta(minutes=2), lat + 0.0002, lon + 0.0003)
    latest(vehicle(world.unit2, plate="粤A20002"), now - dt.timedelta(minutes=1), *world.point2())
    catch_up()
    return made


def test_the_dashboard_on_a_desk(world: World, month: Any, open_page: Any, screenshot: Any) -> None:
    page: Page = open_page("desktop")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.viewport_name = "1366x900"  # type: ignore[attr-defined]  # the screenshots' names
    log_in(page, "dave")
    page.get_by_role("link", name=t("Operations centre")).click()
    expect(page.locator("main h1")).to_have_text(t("Operations centre"))
    tiles = page.locator(".i-tile")
    expect(tiles).to_have_count(len(INDICATORS))
    closing = page.locator('.i-tile[data-indicator="closing_rate"]')
    expect(closing.locator(".i-rate")).to_contain_text("%")
    expect(closing.locator(".i-den")).to_be_visible()
    # The formula opens under the tile.
    closing.locator("summary").click()
    expect(closing.locator(".i-formula")).to_be_visible()
    expect(page.locator("#i-durations tbody tr")).not_to_have_count(0)
    expect(page.locator("svg.i-chart rect.i-bar")).not_to_have_count(0)
    expect(page.locator("#i-units tbody tr")).to_have_count(2)
    expect(page.locator("#i-villages tbody tr")).to_have_count(2)
    # The desk shows tiles side by side (four or more across at 1366 px).
    tops = tiles.evaluate_all("els => els.slice(0, 4).map(e => e.getBoundingClientRect().top)")
    assert len(set(tops)) == 1, tops
    screenshot(page, "dashboard")

    # A numerator's orders: the closed ones of both streets.
    page.locator('.i-tile[data-indicator="closing_rate"] .i-num').click()
    expect(page.locator("main h1")).to_have_text(t(INDICATORS["closing_rate"].label))
    expect(page.locator("#i-orders li.order-row")).to_have_count(4)
    screenshot(page, "drilldown")


def test_the_dashboard_on_a_phone(
    world: World, month: Any, open_page: Any, screenshot: Any
) -> None:
    page: Page = open_page("phone")
    log_in(page, "alice")
    page.goto("/insight/")
    expect(page.locator(".i-tile")).to_have_count(len(INDICATORS))
    # Street one only: her choices are her street and its village.
    expect(page.locator("select[name=street] option")).to_have_count(2)
    filed = page.locator('.i-tile[data-indicator="on_time_filing"] .i-den')
    expect(filed).to_have_text("3")  # two closed and the waiting one in street one
    assert_fits_phone(page)
    screenshot(page, "dashboard")
    # Choose the village: the grids become choosable.
    page.select_option("select[name=village]", "T0101")
    page.locator("#i-filters button.primary").click()
    expect(page.locator("select[name=grid] option")).to_have_count(3)
    filed.click()
    expect(page.locator("#i-orders li.order-row")).to_have_count(3)
    assert_fits_phone(page)
    screenshot(page, "drilldown")


def test_the_big_screen_on_a_wall(
    world: World, month: Any, open_page: Any, screenshot: Any
) -> None:
    page: Page = open_page("desktop")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.viewport_name = "1920x1080"  # type: ignore[attr-defined]
    log_in(page, "dave")
    page.goto("/insight/screen/")
    expect(page.locator(".s-kpi")).to_have_count(9)
    expect(page.locator('.s-kpi[data-kpi="overdue"] b')).to_have_text("1")
    expect(page.locator("#s-overdue li")).to_have_count(1)
    expect(page.locator("#s-overdue li a")).to_have_text(month["overdue"].number)
    expect(page.locator("#s-alarms li a")).to_have_text(month["overdue"].number)
    # The map: heat cells and order dots (SVG paths), and the two devices as markers.
    expect(page.locator("#s-map path.leaflet-interactive")).not_to_have_count(0)
    expect(page.locator("#s-map .s-icon")).to_have_count(2)
    expect(page.locator("#s-clock")).not_to_be_empty()
    # Everything fits on the wall: no scrolling.
    assert page.evaluate("document.documentElement.scrollHeight") <= 1080
    # A poll right away: nothing changed, a 304, and the page stays as it was.
    with page.expect_response("**/insight/screen.json") as answer:
        page.evaluate("window.YunbaoScreen.refresh()")
    assert answer.value.status == 304
    expect(page.locator("#s-status")).not_to_have_class("s-status trouble")
    page.wait_for_timeout(300)  # let the tiles settle for the picture
    screenshot(page, "screen")
