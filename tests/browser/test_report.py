"""The resident's report page (云报事) on a phone: photo, place, category, words, send.

Each test drives Debian's headless Chromium through the live server the way a resident
would: a phone viewport, the phone's location granted or not, a QR code's area in the
address, a photo from the album. The database then says what arrived; screenshots under
var/screenshots/ show each step. Expected texts are computed with Django's gettext from the
same English source strings the template translates, so the tests hold in both languages.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
from django.conf import settings
from PIL import ExifTags, Image, ImageDraw
from playwright.sync_api import Page, expect

from tests.browser.test_pages import EN, assert_fits_phone, log_in, t
from yunbao.catalog.loader import load_catalog
from yunbao.intake.models import MeToo, Submission
from yunbao.workorders.models import Source, Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to

pytestmark = pytest.mark.browser

# Messages of report.html (the dictionary report.js shows), as the English source has them.
LOCATED = (
    "Found your location (within about {m} m). If the pin is not exactly right, "
    "drag it or tap the map."
)
QR_NOTE = "Location from the QR code’s area — drag the pin to the exact spot."
QUEUED_OFFLINE = (
    "No network — your report is saved on this phone and will be sent automatically "
    "when you’re back online."
)
SENT = "Your saved report was sent: No. {number}."
ME_TOO_DONE = "Thank you — you confirmed this report. You need not send it again."

ACCURACY_M = 12
SEND_TIMEOUT = 20_000  # ms: resizing and uploading a photo on a slow test machine


def photo(
    tmp_path: Path,
    name: str = "photo.jpg",
    size: tuple[int, int] = (2400, 1800),
    gps: tuple[float, float] | None = None,
) -> Path:
    """A camera-sized JPEG with something on it (a uniform image compresses to nothing),
    with the camera's GPS position in its EXIF when `gps` is given."""
    image = Image.new("RGB", size, (90, 140, 90))
    draw = ImageDraw.Draw(image)
    rng = random.Random(size[0])
    for _ in range(60):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + 200, y + 150), fill=colour)
    exif = Image.Exif()
    if gps is not None:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: dms(gps[0]),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: dms(gps[1]),
        }
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return path


def dms(degrees: float) -> tuple[float, float, float]:
    """Decimal degrees as EXIF writes them: degrees, minutes, seconds."""
    whole = int(degrees)
    minutes = (degrees - whole) * 60
    return (float(whole), float(int(minutes)), round((minutes - int(minutes)) * 60, 4))


def fits_phone(page: Page) -> None:
    """assert_fits_phone, and no wider than the phone's own width: a mobile browser widens
    its layout viewport (window.innerWidth) to fit content that runs off the side."""
    assert_fits_phone(page)
    viewport = page.viewport_size
    assert viewport is not None
    width = viewport["width"]
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide - width}px wider than the {width}px screen"


def watch_errors(page: Page) -> list[str]:
    """Script errors of the page, to assert there were none."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def allow_location(page: Page, lat: float, lon: float) -> None:
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": ACCURACY_M})


def open_report(page: Page, query: str) -> None:
    page.goto(f"/report/{query}")
    page.wait_for_load_state("load")


def pick_category(page: Page, scene_name: str, code: str) -> None:
    # The tabs show when there are two scenes or more (the shipped catalogue has two; a
    # transactional test's flush leaves only the world's own scene).
    tab = page.locator("#scene-tabs button", has_text=scene_name)
    if tab.is_visible():
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")
    button = page.locator(f"#cat-grid button[data-category='{code}']")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#unsure")).to_have_attribute("aria-pressed", "false")


def wait_for_offline_copy(page: Page) -> None:
    """Wait until the service worker controls the page and has saved the page's copy."""
    page.wait_for_function(
        """async () => {
            if (!navigator.serviceWorker.controller) return false;
            const names = await caches.keys();
            for (const name of names.filter((n) => n.endsWith("-pages"))) {
                const cache = await caches.open(name);
                if (await cache.match(location.href)) return true;
            }
            return false;
        }""",
        polling=200,
    )


def outbox_size(page: Page) -> int:
    """Reports kept in the phone's IndexedDB outbox."""
    return int(
        page.evaluate(
            """() => new Promise((resolve, reject) => {
                const open = indexedDB.open("yunbao-report");
                open.onerror = () => reject(open.error);
                open.onsuccess = () => {
                    const db = open.result;
                    if (!db.objectStoreNames.contains("outbox")) { db.close(); resolve(0); return; }
                    const count = db.transaction("outbox").objectStore("outbox").count();
                    count.onsuccess = () => { db.close(); resolve(count.result); };
                };
            })"""
        )
    )


def test_a_resident_reports_with_a_photo_from_a_phone(world, open_page, screenshot, tmp_path):
    load_catalog()  # the shipped scenes and categories beside the world's own
    page = open_page("phone")
    errors = watch_errors(page)
    lat, lon = world.point1()
    allow_location(page, lat, lon)
    open_report(page, f"?area={world.grid1.code}")

    expect(page.locator("main h1")).to_have_text(t("Report a problem"))
    expect(page.locator(".report-head a.mine")).to_have_attribute("href", "/my/")
    expect(page.locator(".bound-area")).to_contain_text(world.grid1.name)
    expect(page.locator("#loc-status")).to_have_text(t(LOCATED).replace("{m}", str(ACCURACY_M)))
    expect(page.locator("#loc-coords")).to_contain_text(f"{lat:.6f}, {lon:.6f}")
    expect(page.locator("#unsure")).to_have_attribute("aria-pressed", "true")  # the default
    expect(page.locator("#map .report-pin")).to_have_count(1)
    fits_phone(page)
    screenshot(page, "opened")

    page.set_input_files("#photo-album", str(photo(tmp_path)))
    expect(page.locator("#thumbs img")).to_have_count(1, timeout=SEND_TIMEOUT)
    expect(page.locator("#scene-tabs button")).to_have_count(3)
    page.fill("#cat-search", "井盖")  # by name or keyword, across the scenes
    found = page.locator("#cat-grid button")
    expect(found.first).to_be_visible()
    assert all("井盖" in text for text in found.all_inner_texts())
    screenshot(page, "search")
    page.fill("#cat-search", "no such thing")
    expect(found).to_have_count(0)
    expect(page.locator("#cat-empty")).to_be_visible()
    page.fill("#cat-search", "")
    pick_category(page, "测试", world.category.code)
    expect(page.locator("#chosen")).to_contain_text(world.category.name)
    words = "路灯下面有一堆垃圾，浏览器测试"
    page.fill("#description", words)
    expect(page.locator("#desc-count")).to_have_text(str(len(words)))
    page.fill("#nickname", "小王")
    fits_phone(page)
    screenshot(page, "filled")
    page.set_viewport_size({"width": 360, "height": 740})  # a small, cheap phone
    fits_phone(page)
    screenshot(page, "filled-360px")

    page.click("#send")
    page.wait_for_url("**/t/**", timeout=SEND_TIMEOUT)
    order = WorkOrder.objects.get(description=words)
    expect(page.locator("main h1")).to_contain_text(order.number)
    screenshot(page, "tracking")

    assert WorkOrder.objects.filter(description=words).count() == 1
    assert order.category == world.category
    assert order.grid == world.grid1
    assert order.reporter_name == "小王"
    assert (round(order.lat, 5), round(order.lon, 5)) == (lat, lon)
    assert order.submission.location_source == "gps"
    photos = list(order.photos.all())
    assert len(photos) == 1
    # Shrunk on the phone: 2400 × 1800 arrives as 1600 × 1200.
    assert (photos[0].width, photos[0].height) == (1600, 1200)
    assert outbox_size(page) == 0
    assert errors == []


def test_a_report_made_offline_is_kept_and_sent_once_back_online(
    world, open_page, screenshot, tmp_path
):
    page = open_page("phone")
    errors = watch_errors(page)
    allow_location(page, *world.point1())
    open_report(page, f"?area={world.grid1.code}")
    expect(page.locator("#loc-status")).to_have_text(t(LOCATED).replace("{m}", str(ACCURACY_M)))
    page.set_input_files("#photo-camera", str(photo(tmp_path)))
    expect(page.locator("#thumbs img")).to_have_count(1, timeout=SEND_TIMEOUT)
    words = "井盖松动，离线测试"
    page.fill("#description", words)
    wait_for_offline_copy(page)

    page.context.set_offline(True)
    page.click("#send")
    banner = page.locator("#outbox .banner.queued")
    expect(banner.locator(".lead")).to_have_text(t(QUEUED_OFFLINE))
    expect(banner.locator("li")).to_contain_text(words)
    expect(page.locator("#description")).to_have_value("")  # a fresh form for the next one
    expect(page.locator("#thumbs img")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()
    assert outbox_size(page) == 1
    assert not WorkOrder.objects.filter(description=words).exists()
    fits_phone(page)
    screenshot(page, "offline")

    # Still offline, the page opens again (the service worker's copy) and still holds it.
    response = page.reload()
    assert response is not None
    assert response.from_service_worker
    expect(page.locator("main h1")).to_have_text(t("Report a problem"))
    expect(banner.locator("li")).to_contain_text(words)
    screenshot(page, "offline-reopened")
    # An address never opened (another QR code): the saved copy, without the other area.
    response = page.goto(f"/report/?area={world.grid1b.code}")
    assert response is not None
    assert response.from_service_worker
    expect(page.locator(".report-form")).to_be_visible()
    expect(page.locator(".bound-area")).to_be_hidden()
    expect(banner.locator("li")).to_contain_text(words)

    page.context.set_offline(False)  # the `online` event sends it
    sent = page.locator("#outbox .banner.sent")
    expect(sent).to_be_visible(timeout=SEND_TIMEOUT)
    order = WorkOrder.objects.get(description=words)
    expect(sent).to_have_text(t(SENT).replace("{number}", order.number) + " " + t("Follow it"))
    expect(banner).to_have_count(0)
    assert order.photos.count() == 1
    assert outbox_size(page) == 0
    tracking = sent.locator("a").get_attribute("href")
    assert tracking == f"/t/{order.submission.tracking_token}/"
    screenshot(page, "sent")

    page.reload()  # nothing left to send: still one order
    page.wait_for_load_state("load")
    expect(page.locator("#outbox .banner")).to_have_count(0)
    assert WorkOrder.objects.filter(description=words).count() == 1

    page.goto(tracking)
    expect(page.locator("main h1")).to_contain_text(order.number)
    assert errors == []


def test_without_the_phones_location_the_qr_area_places_the_report(
    world, open_page, screenshot, live_server
):
    page = open_page("phone")
    errors = watch_errors(page)
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": EN, "url": live_server.url}]
    )
    open_report(page, f"?area={world.grid1.code}")  # location permission never granted
    expect(page.locator("html")).to_have_attribute("lang", EN)
    expect(page.locator("main h1")).to_have_text("Report a problem")
    status = page.locator("#loc-status")
    expect(status).to_have_text(t(QR_NOTE, EN), timeout=SEND_TIMEOUT)
    centre = f"{world.grid1.center_lat:.6f}, {world.grid1.center_lon:.6f}"
    expect(page.locator("#loc-coords")).to_have_text(centre)
    words = "Broken street lamp by the gate"
    page.fill("#description", words)
    fits_phone(page)
    screenshot(page, "qr-en")

    page.locator("#send").dblclick()  # an impatient double tap sends once
    page.wait_for_url("**/t/**", timeout=SEND_TIMEOUT)
    order = WorkOrder.objects.get(description=words)
    expect(page.locator("main h1")).to_contain_text(order.number)
    screenshot(page, "tracking-en")
    assert order.grid == world.grid1
    assert order.category is None  # "not sure": the system decides
    assert order.submission.location_source == "qr"
    assert (order.lat, order.lon) == pytest.approx(
        (world.grid1.center_lat, world.grid1.center_lon), abs=1e-6
    )
    assert order.photos.count() == 0
    assert Submission.objects.count() == 1
    assert errors == []


def test_is_it_one_of_these_me_too(world, open_page, screenshot):
    existing = bring_to(world, Status.ACCEPTED)
    page = open_page("phone")
    errors = watch_errors(page)
    allow_location(page, *world.point1())
    open_report(page, f"?area={world.grid1.code}")
    expect(page.locator("#nearby")).to_be_hidden()  # not until a category is chosen
    pick_category(page, "测试", world.category.code)
    nearby = page.locator("#nearby")
    expect(nearby.locator("h2")).to_have_text(t("Is it one of these?"))
    item = nearby.locator(".nearby-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(world.category.name)
    expect(item).to_contain_text(t(Status.ACCEPTED.label))
    fits_phone(page)
    screenshot(page, "nearby")

    item.locator("button.me-too").click()
    expect(item.locator(".me-too-note")).to_have_text(t(ME_TOO_DONE))
    expect(item.locator(".count")).to_have_text(t("Me too: {n}").replace("{n}", "1"))
    expect(item.locator("button.me-too")).to_be_hidden()
    screenshot(page, "me-too")
    assert MeToo.objects.filter(order=existing).count() == 1
    assert WorkOrder.objects.count() == 1  # nothing new was reported

    page.locator("#nearby-skip").click()  # "none of these": the hint goes away
    expect(nearby).to_be_hidden()
    assert errors == []


def test_a_refused_report_shows_the_servers_message_by_the_field(world, open_page, screenshot):
    page = open_page("phone")
    allow_location(page, *world.point2())
    open_report(page, "")
    expect(page.locator("#loc-status")).to_have_text(t(LOCATED).replace("{m}", str(ACCURACY_M)))
    page.fill("#description", "x" * 10)
    page.evaluate("document.getElementById('phone').value = '12'")  # not a phone number
    page.click("#send")
    expect(page.locator("[data-error-for=phone]")).to_have_text(
        t("This does not look like a phone number.")
    )
    page.fill("#phone", "")
    # Far outside the district: the server refuses, the page says why next to the map.
    page.context.set_geolocation({"latitude": 39.9, "longitude": 116.4, "accuracy": 20})
    page.click("#locate")
    expect(page.locator("#loc-coords")).to_contain_text("39.900000")
    page.click("#send")
    error = page.locator("[data-error-for=lat]")
    expect(error).to_have_text(
        t("This place is outside the area we serve. Please call 12345 instead.")
    )
    expect(page.locator("#send")).to_be_enabled()
    assert outbox_size(page) == 0  # refused, not kept for a retry
    assert WorkOrder.objects.count() == 0
    screenshot(page, "refused")


def test_without_location_or_qr_code_the_photos_gps_places_the_report(
    world, open_page, screenshot, tmp_path
):
    page = open_page("phone")
    errors = watch_errors(page)
    open_report(page, "")  # no QR code, location permission never granted
    status = page.locator("#loc-status")
    expect(status).to_have_text(
        t("We could not find your location. Drag the pin or tap the map where the problem is."),
        timeout=SEND_TIMEOUT,
    )
    expect(status).to_have_class(re.compile(r"\bloc-warn\b"))
    expect(page.locator("#loc-coords")).to_have_text("")
    fits_phone(page)
    screenshot(page, "no-location")

    # The camera wrote where it was: the first photo travels as taken, EXIF and all, and
    # the server reads the place from it (the pin was never moved).
    page.set_input_files("#photo-album", str(photo(tmp_path, gps=world.point1())))
    expect(page.locator("#thumbs img")).to_have_count(1, timeout=SEND_TIMEOUT)
    words = "照片里有位置"
    page.fill("#description", words)
    page.click("#send")
    page.wait_for_url("**/t/**", timeout=SEND_TIMEOUT)
    order = WorkOrder.objects.get(description=words)
    expect(page.locator("main h1")).to_contain_text(order.number)
    assert order.submission.location_source == "exif"
    assert order.grid == world.grid1
    assert (round(order.lat, 5), round(order.lon, 5)) == world.point1()
    only = order.photos.get()
    assert (only.width, only.height) == (2048, 1536)  # not shrunk on the phone: the server did
    assert errors == []


def test_an_inspector_reports_logged_in_and_the_category_is_remembered(
    world, open_page, screenshot
):
    page = open_page("phone")
    errors = watch_errors(page)
    log_in(page, "fay")  # a session: the API then wants the CSRF token, which the page sends
    allow_location(page, *world.point1())
    open_report(page, "")
    pick_category(page, "测试", world.category.code)
    words = "巡查发现垃圾"
    page.fill("#description", words)
    page.click("#send")
    page.wait_for_url("**/t/**", timeout=SEND_TIMEOUT)
    order = WorkOrder.objects.get(description=words)
    assert order.source == Source.INSPECTOR
    assert order.submission.user == world.users["fay"]

    open_report(page, "")  # the next report starts where the last one was
    button = page.locator(f"#cat-grid button[data-category='{world.category.code}']")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#unsure")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#chosen")).to_contain_text(world.category.name)
    fits_phone(page)
    screenshot(page, "remembered")
    assert errors == []
