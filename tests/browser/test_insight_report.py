"""The monthly evaluation report and the downloads in a real browser: the district manager
goes from the dashboard to a unit's report on a desk (1280×800), then the same report as
printed on A4 (print media, 794 px wide = 210 mm at 96 dpi, and a real PDF from Chromium's
print), and downloads the orders behind the dashboard and behind a figure. Screenshots
under var/screenshots/."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.test_insight import month  # noqa: F401  (a fixture)
from tests.browser.test_pages import assert_fits_phone, log_in, t
from yunbao.conf import BASE_DIR
from yunbao.testing import World

pytestmark = pytest.mark.browser

A4: ViewportSize = {"width": 794, "height": 1123}  # 210 × 297 mm at 96 px per inch


def workbook(path: Any) -> Any:
    """A downloaded workbook (saved without its name, which openpyxl looks at)."""
    return openpyxl.load_workbook(io.BytesIO(Path(path).read_bytes()))


def _report_url(world: World, page: Page) -> str:
    this_month = page.evaluate(
        "new Date().toLocaleDateString('sv-SE', {timeZone: 'Asia/Shanghai'}).slice(0, 7)"
    )
    return f"/insight/report/?month={this_month}&unit={world.unit1.pk}"


def test_the_report_on_a_desk_and_on_a4(
    world: World,
    month: Any,  # noqa: F811
    open_page: Any,
    screenshot: Any,
) -> None:
    page: Page = open_page("desktop")
    log_in(page, "dave")
    page.goto("/insight/")
    page.locator("#i-downloads").get_by_role("link", name=t("Monthly evaluation report")).click()
    expect(page.locator("#r-form")).to_be_visible()
    # Choose this month and unit one; the area choice is cleared by choosing a unit.
    page.select_option("select[name=area]", world.street1.code)
    page.select_option("select[name=unit]", str(world.unit1.pk))
    assert page.locator("select[name=area]").input_value() == ""
    page.goto(_report_url(world, page))
    sheet = page.locator("#r-sheet")
    expect(sheet.locator("h1")).to_contain_text(str(world.unit1))
    for chart in ("#r-trend", "#r-durations-chart", "#r-peers", "#r-score-chart"):
        expect(sheet.locator(chart)).to_be_visible()
    expect(sheet.locator("#r-trend rect.i-bar")).not_to_have_count(0)
    expect(sheet.locator("#r-peers rect.r-bar")).to_have_count(2)  # both units
    expect(sheet.locator("#r-peers rect.r-bar.me")).to_have_count(1)
    expect(sheet.locator("#r-rates tbody tr")).to_have_count(14)
    expect(sheet.locator("#r-score")).not_to_have_text("—")
    # The sheet is A4-wide on a desk: 210 mm at most.
    width = sheet.evaluate("e => e.getBoundingClientRect().width")
    assert width <= 794 + 1, width
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    screenshot(page, "desk")

    # Printed: the page chrome and the form are gone, the sheet fills the paper.
    page.set_viewport_size(A4)
    page.emulate_media(media="print")
    page.viewport_name = "a4-print"  # type: ignore[attr-defined]
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator("#r-form")).to_be_hidden()
    expect(page.locator(".r-tools")).to_be_hidden()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    screenshot(page, "print")
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    (BASE_DIR / "var" / "screenshots").mkdir(parents=True, exist_ok=True)
    (BASE_DIR / "var" / "screenshots" / "insight-report.pdf").write_bytes(pdf)
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    assert 1 <= pages <= 3, pages


def test_the_report_on_a_phone(
    world: World,
    month: Any,  # noqa: F811
    open_page: Any,
    screenshot: Any,
) -> None:
    page: Page = open_page("phone")
    log_in(page, "carol")
    page.goto(_report_url(world, page))
    expect(page.locator("#r-sheet h1")).to_contain_text(str(world.unit1))
    assert_fits_phone(page)
    screenshot(page, "report")


def test_downloads_from_the_dashboard_and_a_figure(
    world: World,
    month: Any,  # noqa: F811
    open_page: Any,
) -> None:
    page: Page = open_page("desktop")
    log_in(page, "alice")
    page.goto("/insight/")
    links = page.locator("#i-downloads")
    with page.expect_download() as got:
        links.get_by_role("link", name=t("Orders (CSV)")).click()
    text = Path(got.value.path()).read_text(encoding="utf-8-sig")
    numbers = {row[0] for row in list(csv.reader(io.StringIO(text)))[1:]}
    street1 = {o.number for o in month["closed"][::2]} | {
        month["overdue"].number,
        month["waiting"].number,
    }
    assert numbers == street1  # street one's reports only: Alice's street
    with page.expect_download() as got:
        links.get_by_role("link", name=t("Indicator tables (XLSX)")).click()
    wb = workbook(got.value.path())
    assert len(wb.sheetnames) == 6
    # From a figure: the drill-down's own orders.
    page.locator('.i-tile[data-indicator="closing_rate"] .i-num').click()
    listed = set(
        page.locator("#i-orders li.order-row").evaluate_all("els => els.map(e => e.dataset.number)")
    )
    with page.expect_download() as got:
        page.locator("#i-downloads").get_by_role("link", name="XLSX").click()
    rows = list(workbook(got.value.path()).active.iter_rows(values_only=True))
    assert {r[0] for r in rows[1:]} == listed
    assert listed
