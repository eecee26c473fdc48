"""A device's track in a real browser, on a phone: the supervisor opens yesterday's track of
a sweeper, reads the day's figures, drags the slider to a moment and plays the day back.
The page's readout is checked against the fixes stored; a screenshot under var/screenshots/
shows the map, the path and the player."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.test_pages import assert_fits_phone, log_in, t
from yunbao.fleet import tracks
from yunbao.fleet.models import Device
from yunbao.fleet.tests.live_helpers import fix, store, vehicle

pytestmark = pytest.mark.browser

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sweep(device: Device, day: dt.date, lat: float, lon: float) -> list[Any]:
    """08:00-09:30: east along a street at 9 km/h, a 10-minute stop, back west, a fix every
    30 s."""
    start = dt.datetime.combine(day, dt.time(8), SHANGHAI)
    rows = []
    for i in range(80):  # 40 minutes out
        at = start + dt.timedelta(seconds=30 * i)
        rows.append(fix(device, at, lat, lon + i * 0.00073, speed=9.0, course=90))
    turn = rows[-1]
    for i in range(1, 21):  # 10 minutes standing (GPS wanders by a metre or two)
        at = turn.fixed_at + dt.timedelta(seconds=30 * i)
        rows.append(fix(device, at, lat + (i % 3) * 1e-5, turn.lon, speed=0.0))
    back = rows[-1]
    for i in range(1, 81):  # 40 minutes back
        at = back.fixed_at + dt.timedelta(seconds=30 * i)
        rows.append(fix(device, at, lat + 0.0004, turn.lon - i * 0.00073, speed=9.0, course=270))
    return store(rows)


def clock(moment: dt.datetime) -> str:
    return timezone.localtime(moment, SHANGHAI).strftime("%H:%M:%S")


def test_the_supervisor_plays_back_yesterdays_track_on_a_phone(
    world: Any, open_page: Any, screenshot: Any, settings: Any
) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    day = timezone.localdate() - dt.timedelta(days=1)
    sweeper = vehicle(world.unit1, plate="粤A3H721")
    lat, lon = world.street1.min_lat + 0.0003, world.street1.min_lon + 0.0002
    stored = sweep(sweeper, day, lat, lon)
    expected = tracks.day_track(sweeper.pk, day)
    first, last = stored[0].fixed_at, stored[-1].fixed_at

    page: Page = open_page("phone")
    log_in(page, "carol")
    page.goto(f"/fleet/devices/{sweeper.pk}/track/?day={day.isoformat()}")
    expect(page.locator("h1")).to_contain_text("粤A3H721")
    # The day's figures, as the server computed them from the stored fixes.
    expect(page.locator("#f-distance")).to_have_text(f"{expected.distance_m / 1000:.1f}")
    assert 11_000 < expected.distance_m < 13_000  # 2 × 80 steps of about 75 m
    expect(page.locator(".f-stops tbody tr")).to_have_count(1)
    # The map drew the path (one segment) over the area, and the marker at the start.
    expect(
        page.locator("#f-track-map path.leaflet-interactive, #f-track-map path")
    ).not_to_have_count(0)
    slider = page.locator("#f-slider")
    expect(slider).to_have_attribute("max", str(int((last - first).total_seconds())))
    expect(page.locator("#f-time")).to_have_text(clock(first))
    expect(page.locator("#f-so-far")).to_contain_text("0.0")

    # Dragged to 20 minutes in: 40 fixes out, at 9 km/h, 3 km along.
    slider.fill("1200")
    expect(page.locator("#f-time")).to_have_text(clock(first + dt.timedelta(minutes=20)))
    expect(page.locator("#f-speed")).to_contain_text("9")
    so_far = expected.travelled[40] / 1000
    expect(page.locator("#f-so-far")).to_contain_text(f"{so_far:.1f}")
    # The stop: standing, speed 0.
    slider.fill(str(45 * 60))
    expect(page.locator("#f-speed")).to_contain_text("0")

    # Play: the marker moves on by itself, at 300 times real time by default.
    slider.fill("0")
    play = page.locator("#f-play")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(play).to_have_text(t("Pause"))
    start = int(first.timestamp())
    page.wait_for_function(
        "start => Number(document.getElementById('f-track').dataset.at) > start + 120",
        arg=start,
    )
    assert int(slider.input_value()) > 0
    play.click()
    expect(play).to_have_attribute("aria-pressed", "false")
    paused = page.locator("#f-time").inner_text()
    page.wait_for_timeout(500)
    assert page.locator("#f-time").inner_text() == paused
    assert re.fullmatch(r"\d\d:\d\d:\d\d", paused)

    assert_fits_phone(page)
    screenshot(page, "playback")
