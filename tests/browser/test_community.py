"""A volunteer activity end to end: the organiser creates and publishes it (desktop), a
resident signs up on a phone without an account, checks in by the activity's QR link (the
phone's position near the place), checks out an hour later and sees their points.

Each step is checked in the database as well as on the page; the screenshots under
var/screenshots/ show every page. Expected texts come from Django's gettext, so the test
holds whatever the catalogue has.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_pages import log_in, t
from tests.browser.test_report import allow_location, fits_phone, watch_errors
from yunbao.community.models import Activity, ActivityStatus, SignUp
from yunbao.org.actions import create_staff
from yunbao.org.models import Role

pytestmark = pytest.mark.browser

LOCAL = "%Y-%m-%dT%H:%M"


def test_create_sign_up_check_in_and_see_points(
    world: Any, open_page: Any, screenshot: Any
) -> None:
    create_staff(username="ora", password="pw-ora", roles=[Role.ORGANISER], areas=[world.street1])
    lat, lon = world.point1()
    # It began 70 minutes ago, so an hour of service fits before the check-out.
    starts = timezone.localtime() - timedelta(minutes=70)

    # --- The organiser creates and publishes the activity ---------------------------------
    desk = open_page("desktop")
    desk_errors = watch_errors(desk)
    log_in(desk, "ora")
    desk.goto("/community/manage/new/")
    desk.fill("#id_title", "清洁家园 <志愿者>")
    desk.select_option("#id_kind", "cleanup")
    desk.select_option("#id_area", world.grid1.parent.code)
    desk.fill("#id_place", "村口广场")
    # A tap in the middle of the village's map sets the place near its centre.
    village = world.grid1.parent
    expect(desk.locator("#place-map svg")).to_be_visible()
    box = desk.locator("#place-map svg").bounding_box()
    assert box is not None
    desk.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert abs(float(desk.input_value("#id_lat")) - village.center_lat) < 0.0005
    assert abs(float(desk.input_value("#id_lon")) - village.center_lon) < 0.0005
    desk.fill("#id_lat", str(lat))
    desk.fill("#id_lon", str(lon))
    desk.fill("#id_starts_at", starts.strftime(LOCAL))
    desk.fill("#id_ends_at", (starts + timedelta(hours=3)).strftime(LOCAL))
    desk.fill("#id_capacity", "5")
    desk.fill("#id_checkin_radius_m", "200")
    desk.fill("#id_description", "带上手套，现场教大家扫码报事。")
    screenshot(desk, "form")
    desk.click("#save")
    expect(desk.locator("main h1")).to_contain_text("清洁家园 <志愿者>")
    activity = Activity.objects.get()
    assert activity.status == ActivityStatus.DRAFT
    desk.click("#publish")
    expect(desk.locator("#checkin-link")).to_be_visible()
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PUBLISHED
    checkin_path = desk.locator("#checkin-link").get_attribute("href")
    assert checkin_path
    assert "/community/c/" in checkin_path
    screenshot(desk, "published")

    # --- A resident signs up on a phone, no account -----------------------------------------
    phone = open_page("phone")
    phone_errors = watch_errors(phone)
    allow_location(phone, lat + 0.0003, lon)
    phone.goto("/community/")
    expect(phone.locator(".activity-row")).to_have_count(1)
    fits_phone(phone)
    screenshot(phone, "calendar")
    phone.click(".activity-row a")
    phone.fill("#id_nickname", "阿芳")
    phone.fill("#id_phone", "13800138000")
    screenshot(phone, "activity")
    phone.click("form.signup button.primary")
    expect(phone.locator(".message.success")).to_have_text(t("You are signed up. See you there!"))
    expect(phone.locator("section.signed h2")).to_have_text(t("You are signed up"))
    fits_phone(phone)
    signup = SignUp.objects.get()
    assert signup.participant.nickname == "阿芳"
    assert signup.participant.user is None
    assert "13800138000" not in phone.content()
    screenshot(phone, "signed-up")

    # --- Check in by the QR link, with the phone's position --------------------------------
    phone.goto(checkin_path.replace("http://testserver", ""))
    screenshot(phone, "checkin")
    phone.click("#check-in")
    expect(phone.locator(".message.success")).to_have_text(t("Checked in. Welcome!"))
    signup.refresh_from_db()
    assert signup.checked_in_at is not None
    fits_phone(phone)
    screenshot(phone, "checked-in")

    # An hour passes at the clean-up (moved in the database rather than waited for).
    SignUp.objects.filter(pk=signup.pk).update(checked_in_at=activity.starts_at)
    phone.click("#check-out")
    expect(phone.locator(".message.success")).to_have_text(
        t("Checked out. Thank you for your time!")
    )
    signup.refresh_from_db()
    assert signup.hours == Decimal("1.00")
    screenshot(phone, "checked-out")

    # --- Their points -------------------------------------------------------------------------
    phone.click("text=" + t("See my points"))
    expect(phone.locator("#my-total")).to_have_text("5")  # one hour × 5 points
    fits_phone(phone)
    screenshot(phone, "points")

    # The organiser sees the attendance, the contact and the hours.
    desk.goto(f"/community/manage/{activity.pk}/")
    expect(desk.locator("#n-attended")).to_have_text("1")
    expect(desk.locator("table.signups")).to_contain_text("13800138000")
    screenshot(desk, "attendance")
    assert desk_errors == []
    assert phone_errors == []
