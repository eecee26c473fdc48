"""The dispatcher's console in a real browser, on a 1366×768 office screen and on a phone.

Alice works her queue the way a dispatcher would: a report arrives while she looks (no
reload), she accepts it from the keyboard, merges a duplicate pair side by side, re-routes an
order a unit sent back and assigns it to another worker. The database says what happened;
screenshots under var/screenshots/ show each step.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.conftest import VIEWPORTS
from tests.browser.test_pages import assert_fits_phone, log_in, t
from yunbao.catalog.models import Urgency
from yunbao.dispatch.actions import auto_dispatch
from yunbao.dispatch.models import RoutingRule
from yunbao.intake.actions import ReportInput, submit_report
from yunbao.intake.models import DuplicateSuggestion
from yunbao.org.models import Shift
from yunbao.workorders import actions
from yunbao.workorders.models import Source, Status, WorkOrder
from yunbao.workorders.transitions import TRANSITIONS

pytestmark = pytest.mark.browser

OFFICE = {"viewport": {"width": 1366, "height": 768}}
POLL_WAIT = 15_000  # ms: the page polls every 5 s; a slow test machine gets three chances


@pytest.fixture
def office(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(VIEWPORTS, "office", OFFICE)


def report(world: Any, text: str, point: tuple[float, float]) -> WorkOrder:
    """A resident's report through intake (duplicate check included), then the machine's
    decision, as the background task would make it."""
    result = submit_report(
        ReportInput(
            key=uuid.uuid4().hex,
            lat=point[0],
            lon=point[1],
            description=text,
            category=world.category.code,
        ),
        actor=world.users["erin"],
    )
    auto_dispatch(result.order)
    return result.order


def on_duty_all_week(*people: Any) -> None:
    for person in people:
        for weekday in range(7):
            Shift.objects.create(user=person, weekday=weekday, start=dt.time(0), end=dt.time(0))


def row(page: Page, order: WorkOrder) -> Any:
    return page.locator(f'#c-list > li[data-number="{order.number}"]')


def panel_title(page: Page) -> Any:
    return page.locator("#c-panel .cp-head h2")


def assert_fits_the_desk(page: Page) -> None:
    """Three columns side by side, none cramped, nothing running off or out of a column."""
    page.wait_for_load_state("load")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    tall = page.evaluate("document.documentElement.scrollHeight - window.innerHeight")
    assert tall <= 0, f"the console is {tall}px taller than the screen"
    boxes = page.evaluate(
        """() => ['.c-queue', '.c-map', '.c-panel'].map(s => {
            const e = document.querySelector(s), r = e.getBoundingClientRect();
            return [s, Math.round(r.left), Math.round(r.top), Math.round(r.width),
                    e.scrollWidth - e.clientWidth];
        })"""
    )
    (_q, queue_left, queue_top, queue_width, queue_over) = boxes[0]
    (_m, map_left, map_top, map_width, _map_over) = boxes[1]
    (_p, panel_left, panel_top, panel_width, panel_over) = boxes[2]
    assert queue_left < map_left < panel_left, boxes
    assert queue_top == map_top == panel_top, boxes
    assert queue_width >= 300, boxes
    assert map_width >= 240, boxes
    assert panel_width >= 380, boxes
    assert queue_over <= 0, boxes
    assert panel_over <= 0, boxes
    # Nothing inside the queue's rows or the panel is wider than its column.
    wide = page.evaluate(
        """() => [...document.querySelectorAll('#c-list *, #c-panel *, .c-filters *, .c-bulk *')]
            .filter(e => e.offsetParent !== null)
            .filter(e => {
                const col = e.closest('.c-queue, .c-panel').getBoundingClientRect();
                const r = e.getBoundingClientRect();
                return r.right > col.right + 1 || r.left < col.left - 1;
            })
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert not wide, f"sticking out of their column: {wide}"
    small = page.evaluate(
        """() => [...document.querySelectorAll('.console')]
            .flatMap(e => [...e.querySelectorAll('*')])
            .filter(e => e.offsetParent !== null && e.childElementCount === 0
                    && e.textContent.trim())
            .map(e => [e.outerHTML.slice(0, 60), parseFloat(getComputedStyle(e).fontSize)])
            .filter(([, size]) => size < 11)"""
    )
    assert not small, f"text too small to read: {small}"


def test_a_dispatcher_works_the_queue_on_an_office_screen(
    world: Any, open_page: Any, screenshot: Any, settings: Any, office: None
) -> None:
    settings.YUNBAO_DEDUPE_AUTO_MERGE_SCORE = 1.1  # likely duplicates are suggested, not merged
    settings.YUNBAO_AUTO_DISPATCH = False  # the machine suggests, Alice decides
    alice, bob, bill, walt = (world.users[n] for n in ("alice", "bob", "bill", "walt"))
    RoutingRule.objects.create(category=world.category, area=world.street1, unit=world.unit1)
    on_duty_all_week(bob, bill)

    first = report(world, "路口垃圾桶满了，垃圾堆在地上", (23.0002, 113.0002))
    second = report(world, "路口垃圾桶满了，垃圾都堆在地上", (23.00021, 113.00022))
    assert DuplicateSuggestion.objects.filter(order=second, candidate=first).exists()
    # Not through intake, so it is nobody's duplicate: unit two gets it wrongly and returns it.
    returned = actions.submit(
        actor=world.users["emma"],
        lat=23.0004,
        lon=113.0006,
        description="人行道上的树枝断了，挡住了路",
        category=world.category,
    )
    auto_dispatch(returned)
    actions.accept(returned, actor=alice)
    actions.dispatch(returned, actor=alice, unit=world.unit2, worker=walt)
    actions.return_order(returned, actor=walt, note="这里不是二街，我们管不了")
    lat, lon = world.point1()
    overdue = actions.submit(
        actor=None,
        lat=lat,
        lon=lon,
        description="有人在墙上乱涂乱画，已经好几天了",
        source=Source.HOTLINE,
        at=timezone.now() - dt.timedelta(hours=5),
    )
    auto_dispatch(overdue)
    urgent = actions.submit(
        actor=None,
        lat=23.0007,
        lon=113.0012,
        description="井盖丢了，晚上很危险",
        category=world.category,
        urgency=Urgency.URGENT,
    )
    auto_dispatch(urgent)

    page = open_page("office")
    log_in(page, "alice")
    page.goto("/dispatch/console/")
    items = page.locator("#c-list > li.c-item")
    expect(items).to_have_count(5)
    expect(items.first).to_have_attribute("data-number", urgent.number)
    expect(row(page, returned).locator(".tag.returned")).to_have_text(t("Returned"))
    expect(row(page, returned)).to_contain_text("这里不是二街，我们管不了")
    expect(row(page, overdue).locator(".c-due")).to_have_class(re.compile(r"\boverdue\b"))
    expect(row(page, overdue).locator(".c-cat")).to_have_text(t("Unrecognised"))
    expect(row(page, second).locator(".tag.dup")).to_be_visible()
    expect(row(page, urgent)).to_contain_text(str(world.unit1))  # the machine's suggestion
    expect(page.locator("#c-map path.leaflet-interactive")).to_have_count(5)
    expect(page.locator("#c-map .c-worker-icon")).to_have_count(2)
    assert_fits_the_desk(page)
    screenshot(page, "queue")

    # A report arrives while she looks: it appears without a reload, highlighted.
    page.evaluate("window.stillTheSamePage = true")
    fresh = report(world, "公交站旁边有人乱摆摊卖菜", (23.0008, 113.0019))
    expect(row(page, fresh)).to_be_visible(timeout=POLL_WAIT)
    expect(row(page, fresh)).to_have_class(re.compile(r"\bfresh\b"))
    expect(page.locator("#c-status")).to_contain_text(fresh.number)
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "new-order")

    # The keyboard: j/k move through the queue, a accepts with the machine's category.
    row(page, fresh).locator("a.c-open").click()
    expect(panel_title(page)).to_have_text(fresh.number)
    page.keyboard.press("k")
    expect(panel_title(page)).to_have_text(urgent.number)
    page.keyboard.press("j")
    expect(panel_title(page)).to_have_text(fresh.number)
    expect(row(page, fresh)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("a")
    expect(page.locator("#c-panel .message.success")).to_have_text(t(TRANSITIONS["accept"].label))
    expect(page.locator("#c-panel .cp-head .status")).to_have_text(t(Status.ACCEPTED.label))
    expect(row(page, fresh).locator(".status")).to_have_text(t(Status.ACCEPTED.label))
    fresh.refresh_from_db()
    assert (fresh.status, fresh.category) == (Status.ACCEPTED, world.category)
    assert fresh.timeline.get(action="accept").actor == alice
    screenshot(page, "accepted-with-a")

    # The duplicate pair side by side; m shows the top duplicate, m again merges.
    row(page, second).locator("a.c-open").click()
    expect(panel_title(page)).to_have_text(second.number)
    compare = page.locator("#c-panel .cp-compare")
    expect(compare.locator(".cp-this")).to_contain_text("路口垃圾桶满了，垃圾都堆在地上")
    expect(compare.locator(".cp-cand")).to_contain_text(first.number)
    expect(compare.locator(".cp-cand")).to_contain_text("路口垃圾桶满了，垃圾堆在地上")
    assert_fits_the_desk(page)
    screenshot(page, "duplicates")
    page.keyboard.press("m")
    merge_button = compare.locator("form[data-top] button")
    expect(merge_button).to_be_focused()
    expect(page.locator("#c-status")).to_contain_text(first.number)
    second.refresh_from_db()
    assert second.status == Status.SUBMITTED  # one press never merges
    page.keyboard.press("m")
    expect(page.locator("#c-panel .cp-head .status")).to_have_text(t(Status.MERGED.label))
    expect(row(page, second)).to_have_count(0)
    second.refresh_from_db()
    assert (second.status, second.duplicate_of) == (Status.MERGED, first)
    screenshot(page, "merged")

    # The returned order: the unit's reason, then re-routed to unit one and Bob.
    row(page, returned).locator("a.c-open").click()
    expect(panel_title(page)).to_have_text(returned.number)
    expect(page.locator("#c-panel .cp-returned")).to_contain_text("这里不是二街，我们管不了")
    form = page.locator("#c-panel form[data-action=dispatch]")
    unit, worker = form.locator("select[name=unit]"), form.locator("select[name=worker]")
    expect(unit).to_have_value(str(world.unit1.pk))  # the machine's suggestion
    names = "option:not([value=''])"
    expect(worker.locator(names)).to_have_count(2)  # Bob and Bill: unit one's workers only
    unit.select_option(str(world.unit2.pk))
    expect(worker.locator(names)).to_have_count(1)
    expect(worker.locator(names)).to_have_text("walt")
    unit.select_option(str(world.unit1.pk))
    worker.select_option(str(bob.pk))
    # Typing is typing: j, a, d and m in a text field move, accept or merge nothing.
    note = form.locator("input[name=note]")
    note.press_sequentially("jadm ")
    expect(note).to_have_value("jadm ")
    expect(panel_title(page)).to_have_text(returned.number)
    returned.refresh_from_db()
    assert returned.status == Status.ACCEPTED
    note.fill("树枝归环卫清理")
    assert_fits_the_desk(page)
    screenshot(page, "re-routing")
    form.locator("button.primary").click()
    expect(page.locator("#c-panel .cp-head .status")).to_have_text(t(Status.DISPATCHED.label))
    expect(row(page, returned)).to_have_count(0)
    returned.refresh_from_db()
    assert (returned.status, returned.unit, returned.worker) == (
        Status.DISPATCHED,
        world.unit1,
        bob,
    )

    # … and then given to Bill.
    assign = page.locator("#c-panel form[data-action=assign]")
    assign.locator("select[name=worker]").select_option(str(bill.pk))
    assign.locator("button.primary").click()
    expect(page.locator("#c-panel .message.success")).to_have_text(t(TRANSITIONS["assign"].label))
    returned.refresh_from_db()
    assert (returned.status, returned.unit, returned.worker) == (
        Status.DISPATCHED,
        world.unit1,
        bill,
    )
    assert list(returned.timeline.values_list("action", flat=True))[-2:] == ["dispatch", "assign"]
    screenshot(page, "assigned")

    # The help overlay, on "?".
    page.locator("#c-list").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    expect(page.locator("#c-help")).to_be_visible()
    screenshot(page, "help")
    page.keyboard.press("Escape")
    expect(page.locator("#c-help")).to_be_hidden()


def test_the_console_stacks_on_a_narrow_screen(world: Any, open_page: Any, screenshot: Any) -> None:
    order = actions.submit(
        actor=world.users["erin"],
        lat=world.point1()[0],
        lon=world.point1()[1],
        description="路边有垃圾",
        category=world.category,
    )
    page = open_page("phone")
    log_in(page, "alice")
    page.goto("/dispatch/console/")
    expect(row(page, order)).to_be_visible()
    row(page, order).locator("a.c-open").click()
    expect(panel_title(page)).to_have_text(order.number)
    ys = page.evaluate(
        "['.c-queue', '.c-map', '.c-panel']"
        ".map(s => document.querySelector(s).getBoundingClientRect().top)"
    )
    assert ys == sorted(ys), ys  # one column: the queue, then the map, then the order
    assert len(set(ys)) == 3, ys
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    screenshot(page, "stacked")
    assert_fits_phone(page)
