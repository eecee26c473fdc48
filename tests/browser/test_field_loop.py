"""The whole loop on phones (360 × 740): report → automatic dispatch → the worker takes the
task, arrives (offline: the arrival waits on the phone and is sent once) and finishes with
an after-photo → the supervisor closes it → the resident rates the result.

Each step is driven through the pages as a person would and checked in the database; the
screenshots under var/screenshots/ show every page on a small phone, in Chinese, and the
supervisor's in English. Expected texts come from Django's gettext, so the test holds in
both languages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_console import on_duty_all_week
from tests.browser.test_pages import EN, log_in, t
from tests.browser.test_report import (
    ACCURACY_M,
    SEND_TIMEOUT,
    allow_location,
    fits_phone,
    open_report,
    photo,
    pick_category,
    watch_errors,
)
from yunbao.dispatch.models import DispatchDecision, RoutingRule
from yunbao.field.models import FieldAction
from yunbao.workorders.models import PhotoKind, Status, WorkOrder

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 360, "height": 740}
QUEUED_OFFLINE = (
    "No network — saved on this phone; it will be sent automatically when you are back online."
)


def small_phone(open_page: Any) -> Page:
    page = open_page("phone")
    page.set_viewport_size(SMALL_PHONE)
    return page


def status_badge(page: Page) -> Any:
    return page.locator(".order-head h1 .status")


def test_report_dispatch_handle_check_and_rate_on_phones(
    world: Any, open_page: Any, screenshot: Any, settings: Any, tmp_path: Path
) -> None:
    # Automatic dispatch, run inline (settings_test: TASK_BACKEND=immediate): street one's
    # test category goes to unit one, where Bob is on duty all week.
    settings.YUNBAO_DECIDE_ON_SUBMIT = True
    settings.YUNBAO_AUTO_DISPATCH = True
    RoutingRule.objects.create(category=world.category, area=world.street1, unit=world.unit1)
    on_duty_all_week(world.users["bob"])
    lat, lon = world.point1()

    # --- The resident reports --------------------------------------------------------------
    resident = small_phone(open_page)
    resident_errors = watch_errors(resident)
    allow_location(resident, lat, lon)
    open_report(resident, f"?area={world.grid1.code}")
    expect(resident.locator("#loc-status")).to_contain_text(str(ACCURACY_M))
    resident.set_input_files("#photo-album", str(photo(tmp_path, "before.jpg")))
    expect(resident.locator("#thumbs img")).to_have_count(1, timeout=SEND_TIMEOUT)
    pick_category(resident, "测试", world.category.code)
    words = "小区门口垃圾堆了三天，完整流程测试"
    resident.fill("#description", words)
    resident.click("#send")
    resident.wait_for_url("**/t/**", timeout=SEND_TIMEOUT)
    tracking = resident.url

    order = WorkOrder.objects.get(description=words)
    decision = DispatchDecision.objects.get(order=order)
    assert decision.automatic, decision.reasons
    assert (order.status, order.unit, order.worker) == (
        Status.DISPATCHED,
        world.unit1,
        world.users["bob"],
    )
    expect(resident.locator(".steps li.done")).to_have_count(1)  # dispatched
    screenshot(resident, "resident-dispatched")
    fits_phone(resident)

    # --- The worker: my tasks, the task, accept ------------------------------------------
    worker = small_phone(open_page)
    worker_errors = watch_errors(worker)
    allow_location(worker, lat + 0.0002, lon)  # about 22 m from the report
    log_in(worker, "bob")
    worker.get_by_role("link", name=t("My tasks")).click()
    expect(worker.locator("main h1")).to_contain_text(t("My tasks"))
    task_row = worker.locator(".task-row").filter(has_text=order.number)
    expect(task_row).to_be_visible()
    expect(task_row.locator(".sla-badge")).to_be_visible()
    screenshot(worker, "worker-tasks")
    fits_phone(worker)

    task_row.locator("a").click()
    expect(status_badge(worker)).to_have_text(t(Status.DISPATCHED.label))
    expect(worker.locator(".nav-links a")).to_have_count(4)
    expect(worker.locator(".nav-amap")).to_have_attribute("href", re.compile("coordinate=gaode"))
    expect(worker.locator(".nav-baidu")).to_have_attribute("href", re.compile("coord_type=bd09ll"))
    expect(worker.locator("form[data-action=arrive]")).to_be_hidden()
    screenshot(worker, "worker-task")
    fits_phone(worker)

    worker.locator("form[data-action=start] button").click()
    expect(status_badge(worker)).to_have_text(t(Status.IN_PROGRESS.label))
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS

    # --- Arrive without a network: kept on the phone, sent once when back -----------------
    worker.context.set_offline(True)
    worker.locator("form[data-action=arrive] button").click()
    banner = worker.locator("#outbox .banner.queued")
    expect(banner.locator(".lead")).to_have_text(t(QUEUED_OFFLINE))
    expect(banner.locator("li")).to_contain_text(order.number)
    assert not order.timeline.filter(action="arrive").exists()
    screenshot(worker, "worker-arrive-offline")
    fits_phone(worker)

    worker.context.set_offline(False)  # the `online` event sends it, then the page reloads
    expect(worker.locator(".where-card .arrived")).to_be_visible(timeout=SEND_TIMEOUT)
    expect(worker.locator("#outbox .banner.queued")).to_have_count(0)
    arrivals = order.timeline.filter(action="arrive")
    assert arrivals.count() == 1
    assert arrivals.get().data["too_far"] is False
    assert 15 <= arrivals.get().data["distance_m"] <= 30
    assert FieldAction.objects.filter(order=order, action="arrive").count() == 1

    # --- Finish: a note and an after-photo (shrunk on the phone) --------------------------
    finish = worker.locator("form[data-action=finish]")
    finish.locator("button.primary").click()  # no note, no photo: told, nothing sent
    expect(finish.locator(".field-error")).to_have_text(t("A reason or note is required."))
    finish.locator("textarea[name=note]").fill("已清运，地面已冲洗")
    finish.locator("button.primary").click()
    expect(finish.locator(".field-error")).to_have_text(t("Add at least one photo of the result."))
    worker.set_input_files("#after-photos", str(photo(tmp_path, "after.jpg", size=(3000, 2000))))
    expect(worker.locator("#after-thumbs img")).to_have_count(1, timeout=SEND_TIMEOUT)
    screenshot(worker, "worker-finish")
    fits_phone(worker)
    finish.locator("button.primary").click()
    expect(status_badge(worker)).to_have_text(t(Status.HANDLED.label), timeout=SEND_TIMEOUT)
    order.refresh_from_db()
    assert order.status == Status.HANDLED
    after = order.photos.get(kind=PhotoKind.AFTER)
    assert (after.width, after.height) == (1600, 1067)  # shrunk on the phone
    screenshot(worker, "worker-handled")
    fits_phone(worker)

    # --- The supervisor checks, in English, and closes -------------------------------------
    supervisor = small_phone(open_page)
    supervisor_errors = watch_errors(supervisor)
    log_in(supervisor, "carol")
    supervisor.click("form.lang button")
    expect(supervisor.locator("html")).to_have_attribute("lang", EN)
    supervisor.get_by_role("link", name=t("Verification queue", EN)).click()
    queued = supervisor.locator(".task-row").filter(has_text=order.number)
    expect(queued).to_be_visible()
    screenshot(supervisor, "supervisor-queue-en")
    fits_phone(supervisor)
    queued.locator("a").click()
    expect(supervisor.locator(".compare .shot img")).to_have_count(2)
    expect(supervisor.locator(".compare")).to_contain_text("m from the report")
    expect(supervisor.locator(".compare")).to_contain_text("Sent from the reported place")
    expect(supervisor.locator(".facts")).to_contain_text("已清运，地面已冲洗")
    screenshot(supervisor, "supervisor-check-en")
    fits_phone(supervisor)
    supervisor.locator("form[data-action=verify] button").click()
    expect(supervisor).to_have_url(re.compile(r"/field/check/$"))
    expect(supervisor.locator(".task-row").filter(has_text=order.number)).to_have_count(0)
    order.refresh_from_db()
    assert order.status == Status.CLOSED

    # --- The resident sees it closed and rates it ----------------------------------------
    resident.goto(tracking)
    expect(resident.locator(".steps li.done")).to_have_count(3)
    expect(resident.locator("#rate")).to_be_visible()
    expect(resident.locator("#reopen")).to_be_visible()
    screenshot(resident, "resident-closed")
    fits_phone(resident)
    resident.locator(".stars .star").nth(3).click()  # four stars
    resident.fill("#rate-note", "处理得很快，谢谢")
    resident.locator("#rate button.primary").click()
    expect(resident.locator("main .message.success").first).to_be_visible()
    expect(resident.locator("#rate")).to_have_count(0)
    screenshot(resident, "resident-rated")
    fits_phone(resident)
    order.refresh_from_db()
    assert (order.rating, order.rating_comment) == (4, "处理得很快，谢谢")
    assert order.timeline.filter(action="rate").count() == 1

    assert resident_errors == []
    assert worker_errors == []
    assert supervisor_errors == []
