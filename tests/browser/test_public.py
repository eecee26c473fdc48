"""The public page in a real browser, without logging in: on a phone (390×844) and on a desk
(1366×900), in Chinese and in English. The map draws one hexagon per block, a tap opens the
block's reports, the area table reads as blocks on the phone and as a table on the desk, and
nothing personal is on the screen. Screenshots under var/screenshots/ show each."""

from __future__ import annotations

import datetime as dt
from typing import Any

import h3
import pytest
from django.core.cache import caches
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.test_pages import assert_fits_phone, t
from yunbao.insight.public import PUBLIC_H3_RESOLUTION
from yunbao.insight.store import catch_up
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions

pytestmark = pytest.mark.browser

SECRET_NAME = "PUB-Reporter-9917"
SECRET_TEXT = "PUB-DESC-4410 我家门口"


@pytest.fixture
def recent(world: World, settings: Any) -> dict[str, Any]:
    """Reports of the last days in both streets, some fixed; the aggregates counted."""
    settings.TIME_ZONE = "Asia/Shanghai"
    caches["default"].clear()
    caches["api-rate"].clear()
    u = world.users
    now = timezone.now()
    made: dict[str, Any] = {}
    spots = [(0.0001, 0.0002), (0.0008, 0.0009), (0.0004, 0.0006), (0.0009, 0.0001)]
    for i, (dlat, dlon) in enumerate(spots):
        street = 1 + i % 2
        lat, lon = world.point1() if street == 1 else world.point2()
        when = now - dt.timedelta(days=3 - i, hours=2)
        order = actions.submit(
            actor=u["erin"],
            lat=lat - 0.0005 + dlat,
            lon=lon - 0.0005 + dlon,
            description=SECRET_TEXT,
            reporter_name=SECRET_NAME,
            reporter_phone="13811112222",
            category=world.category,
            at=when,
        )
        if i < 3:
            desk = u["alice"] if street == 1 else u["olga"]
            worker = u["bob"] if street == 1 else u["walt"]
            unit = world.unit1 if street == 1 else world.unit2
            actions.accept(order, actor=desk, at=when + dt.timedelta(minutes=5))
            actions.dispatch(
                order, actor=desk, unit=unit, worker=worker, at=when + dt.timedelta(minutes=8)
            )
        if i < 2:
            actions.start(order, actor=worker, at=when + dt.timedelta(minutes=15))
            actions.finish(
                order,
                actor=worker,
                note="已清理",
                photos=[stored_photo()],
                at=when + dt.timedelta(minutes=45),
            )
            actions.verify(order, actor=u["ada"], at=when + dt.timedelta(minutes=60))
        made[f"o{i}"] = order
    made["cells"] = len(
        {
            h3.latlng_to_cell(o.lat, o.lon, PUBLIC_H3_RESOLUTION)
            for o in made.values()
            if hasattr(o, "lat")
        }
    )
    catch_up()
    return made


def _check(page: Page, recent: dict[str, Any]) -> None:
    expect(page.locator(".pub-tile")).to_have_count(6)
    expect(page.locator('.pub-tile[data-key="reports"] b')).to_have_text("4")
    expect(page.locator('.pub-tile[data-key="closed"] b')).to_have_text("2")
    expect(page.locator("#p-areas tbody tr")).to_have_count(2)
    # One hexagon per block with reports, drawn by Leaflet on the base map.
    expect(page.locator("#p-map .leaflet-overlay-pane path.leaflet-interactive")).to_have_count(
        recent["cells"]
    )
    expect(page.locator("#p-fixes li")).to_have_count(2)
    # The first view shows every block whole.
    page.wait_for_load_state("load")
    outside = page.evaluate(
        """() => {
            const map = window.YunbaoPublic.map, view = map.getBounds();
            const cells = JSON.parse(document.getElementById('p-initial').textContent).cells;
            return cells.flatMap(c => c.outline).filter(p => !view.contains(p)).length;
        }"""
    )
    assert outside == 0
    body = page.locator("body").inner_text()
    assert SECRET_NAME not in body
    assert "PUB-DESC" not in body
    assert "13811112222" not in body
    assert page.locator("img").count() == 0


def test_the_public_page_on_a_phone(
    world: World, recent: Any, open_page: Any, screenshot: Any
) -> None:
    page: Page = open_page("phone")
    page.goto("/public/")
    expect(page.locator("main h1")).to_have_text(t("Reports and fixes in the district"))
    _check(page, recent)
    assert_fits_phone(page)
    # The table is labelled blocks here: no header row, each cell says what it is.
    expect(page.locator("#p-areas thead")).to_be_hidden()
    screenshot(page, "top")
    # A tap on a block opens its reports: category, state and days, nothing else.
    page.locator("#p-map .leaflet-overlay-pane path.leaflet-interactive").first.click(force=True)
    pop = page.locator(".pub-pop")
    expect(pop).to_be_visible()
    expect(pop.locator("li")).not_to_have_count(0)
    assert "测试垃圾" in pop.inner_text()
    # The pop-up lies inside the map once Leaflet has panned to it.
    page.wait_for_timeout(500)
    inside = page.evaluate(
        """() => {
            const m = document.getElementById('p-map').getBoundingClientRect();
            const pop = document.querySelector('.leaflet-popup-content-wrapper');
            const p = pop.getBoundingClientRect();
            return p.left >= m.left - 1 && p.right <= m.right + 1;
        }"""
    )
    assert inside
    screenshot(page, "popup")
    # A street's own page: its villages.
    page.locator("#p-areas tbody th a").first.click()
    expect(page.locator("#p-areas tbody tr")).to_have_count(1)
    expect(page.locator(".pub-trail b")).to_have_text(world.street1.name)
    assert_fits_phone(page)
    screenshot(page, "street")


def test_the_public_page_on_a_desk(
    world: World, recent: Any, open_page: Any, screenshot: Any
) -> None:
    page: Page = open_page("desktop")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.viewport_name = "1366x900"  # type: ignore[attr-defined]  # the screenshots' names
    page.goto("/public/?period=last_90_days")
    _check(page, recent)
    expect(page.locator("#p-areas thead")).to_be_visible()
    # Six tiles in one row, and the map beside the latest fixes.
    tops = page.locator(".pub-tile").evaluate_all(
        "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    assert len(set(tops)) == 1, tops
    map_box = page.locator(".pub-map-card").bounding_box()
    fixes_box = page.locator(".pub-recent").bounding_box()
    assert map_box is not None
    assert fixes_box is not None
    assert fixes_box["x"] > map_box["x"] + map_box["width"] - 1
    screenshot(page, "district")
    # The map polls its JSON: a second answer within the minute is the same version (304).
    status = page.evaluate(
        """async () => {
            const url = document.getElementById('p-map').dataset.jsonUrl;
            const first = await fetch(url);
            const tag = first.headers.get('ETag');
            const again = await fetch(url, {headers: {'If-None-Match': tag}, cache: 'no-store'});
            return [first.status, again.status];
        }"""
    )
    assert status == [200, 304]


def test_the_public_page_in_english(
    world: World, recent: Any, open_page: Any, screenshot: Any
) -> None:
    page: Page = open_page("phone")
    page.goto("/public/")
    # The language switch in the page's header, as a visitor would use it.
    page.locator("header form.lang button").click()
    expect(page.locator("main h1")).to_have_text("Reports and fixes in the district")
    _check(page, recent)
    expect(page.locator('.pub-tile[data-key="closed"] span')).to_have_text("Fixed and closed")
    page.locator("#p-map .leaflet-overlay-pane path.leaflet-interactive").first.click(force=True)
    expect(page.locator(".pub-pop")).to_contain_text("Test litter")
    assert_fits_phone(page)
    screenshot(page, "english")


def test_a_bad_period_says_so(world: World, open_page: Any, screenshot: Any) -> None:
    page: Page = open_page("phone")
    response = page.goto("/public/?period=forever")
    assert response is not None
    assert response.status == 400
    expect(page.locator(".message.error")).to_have_text(t("Unknown period."))
    expect(page.locator(".pub-periods a")).to_have_count(3)
    expect(page.locator(".pub-periods a.current")).to_have_count(0)
    assert_fits_phone(page)
    screenshot(page, "refused")
