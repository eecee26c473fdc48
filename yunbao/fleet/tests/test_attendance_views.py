"""The attendance and coverage pages and the spreadsheet: who may see which unit and whom,
what the pages say, bad parameters, both languages."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from yunbao.fleet.models import Device, DeviceKind, LatestPosition, Position, Protocol
from yunbao.org.actions import create_staff
from yunbao.org.models import Role, Shift, Unit, UnitKind, Weekday
from yunbao.testing import World

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2025, 3, 3)
IN = (23.0005, 113.0005)
ATTENDANCE = reverse("fleet:attendance")
XLSX = reverse("fleet:attendance-xlsx")
COVERAGE = reverse("fleet:coverage")


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.YUNBAO_FLEET_ATTENDANCE_GRACE_MINUTES = 10
    settings.YUNBAO_FLEET_OUT_OF_AREA_MINUTES = 15
    settings.YUNBAO_FLEET_COVERAGE_MINUTES = 10


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(MONDAY, dt.time(hour, minute), tzinfo=SHANGHAI)


def badge(user: User, name: str) -> Device:
    return Device.objects.create(
        kind=DeviceKind.BADGE, protocol=Protocol.OSMAND, identifier=name, name=name, staff=user
    )


def track(device: Device, start: dt.datetime, end: dt.datetime) -> None:
    points = []
    when = start
    while when <= end:
        points.append(
            Position(device=device, fixed_at=when, received_at=when, lat=IN[0], lon=IN[1])
        )
        when += dt.timedelta(minutes=30)
    Position.objects.bulk_create(points)


def monday_shift(user: User) -> None:
    Shift.objects.create(user=user, weekday=Weekday.MONDAY, start=dt.time(8), end=dt.time(17))


@pytest.fixture
def town(world: World) -> World:
    """Monday: bob came late, bill never came (no badge), walt (unit two) was on time.
    A district-wide unit three has one worker in each street."""
    bob, bill, walt = (world.users[n] for n in ("bob", "bill", "walt"))
    for user in (bob, bill, walt):
        monday_shift(user)
    track(badge(bob, "badge-bob"), at(8, 30), at(17))
    track(badge(walt, "badge-walt"), at(8), at(17))
    three = Unit.objects.create(code="u3", name="全区保洁", kind=UnitKind.SANITATION)
    three.areas.add(world.district)
    for name, street in (("sam", world.street1), ("sue", world.street2)):
        monday_shift(create_staff(username=name, roles=[Role.WORKER], unit=three, areas=[street]))
    return world


def get(client: Client, user: User | None, url: str, lang: str = "en", **params: Any) -> Any:
    if user is not None:
        client.force_login(user)
    return client.get(url, params, HTTP_ACCEPT_LANGUAGE=lang)


def page(client: Client, user: User, unit: str = "", lang: str = "en", **params: Any) -> str:
    response = get(client, user, ATTENDANCE, lang, unit=unit, day=MONDAY.isoformat(), **params)
    assert response.status_code == 200
    return str(response.content.decode())


def rows(html: str) -> set[str]:
    """The usernames of the attendance table's rows."""
    import re

    return set(re.findall(r'data-user="([^"]+)"', html))


# --- Who may come in -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [ATTENDANCE, XLSX, COVERAGE])
def test_anonymous_visitors_go_to_the_login_page(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize("url", [ATTENDANCE, XLSX, COVERAGE])
@pytest.mark.parametrize("name", ["erin", "bob", "fay", "oscar"])
def test_residents_workers_inspectors_and_organisers_are_refused(
    town: World, client: Client, url: str, name: str
) -> None:
    response = get(client, town.users[name], url)
    assert response.status_code == 403
    assert "badge-bob" not in response.content.decode()


@pytest.mark.parametrize(
    ("name", "units"),
    [
        ("alice", {"u1", "u3"}),  # dispatcher of street one
        ("olga", {"u2", "u3"}),  # dispatcher of street two
        ("carol", {"u1", "u3"}),  # supervisor of unit one, in street one
        ("dave", {"u1", "u2", "u3"}),  # manager of the district
        ("ada", {"u1", "u2", "u3"}),  # administrator
    ],
)
def test_each_role_sees_the_units_of_its_areas(
    town: World, client: Client, name: str, units: set[str]
) -> None:
    user = town.users[name]
    for code in ("u1", "u2", "u3"):
        response = get(client, user, ATTENDANCE, unit=code, day=MONDAY.isoformat())
        assert response.status_code == (200 if code in units else 403), code
        assert (get(client, user, XLSX, unit=code).status_code == 200) == (code in units)
    html = get(client, user, COVERAGE, all="1").content.decode()
    assert {code for code in ("u1", "u2", "u3") if f'id="unit-{code}"' in html} == units


def test_a_unit_leader_sees_their_unit_and_nothing_of_another(town: World, client: Client) -> None:
    walt = town.users["walt"]  # a field worker, and the leader of unit two
    town.unit2.leader = walt
    town.unit2.save()

    assert rows(page(client, walt, "u2")) == {"walt"}
    assert get(client, walt, ATTENDANCE, unit="u1").status_code == 403
    assert get(client, walt, XLSX, unit="u1").status_code == 403
    coverage = get(client, walt, COVERAGE, all="1").content.decode()
    assert 'id="unit-u2"' in coverage
    assert 'id="unit-u1"' not in coverage
    assert "bill" not in coverage
    # Without a unit asked for, the page shows the leader's own.
    assert rows(get(client, walt, ATTENDANCE, day="2025-03-03").content.decode()) == {"walt"}


def test_a_unit_partly_in_the_viewers_area_shows_only_its_people_there(
    town: World, client: Client
) -> None:
    html = page(client, town.users["alice"], "u3")
    assert rows(html) == {"sam"}
    assert "Only the people working in your areas are shown and counted." in html

    assert rows(page(client, town.users["olga"], "u3")) == {"sue"}
    assert rows(page(client, town.users["dave"], "u3")) == {"sam", "sue"}

    book = load_workbook(io.BytesIO(get(client, town.users["alice"], XLSX, unit="u3").content))
    names = [row[0] for row in book.active.iter_rows(min_row=5, values_only=True)]
    assert names == ["sam"]


def test_a_supervisor_sees_their_own_unit_wherever_it_works(town: World, client: Client) -> None:
    carol = town.users["carol"]
    carol.profile.areas.clear()  # no areas: only her unit
    assert rows(page(client, carol, "u1")) == {"bob", "bill"}
    assert get(client, carol, ATTENDANCE, unit="u3").status_code == 403


def test_the_home_page_links_the_pages_for_those_who_may_see_them(
    town: World, client: Client
) -> None:
    for name, shown in (("alice", True), ("dave", True), ("bob", False), ("erin", False)):
        html = get(client, town.users[name], reverse("home")).content.decode()
        assert (f'href="{ATTENDANCE}"' in html) == shown, name
        assert (f'href="{COVERAGE}"' in html) == shown, name


# --- What the attendance page says ---------------------------------------------------------


def test_the_attendance_page_lists_each_person_and_the_rate(town: World, client: Client) -> None:
    html = page(client, town.users["alice"], "u1")

    assert rows(html) == {"bob", "bill"}
    assert "On-duty rate" in html
    assert '<div class="tile alarm" id="rate"><b>50.0%</b>' in html
    assert "1/2" in html  # present / scheduled
    bob_row = html.split('data-user="bob"')[1].split("</tr>")[0]
    assert "Late" in bob_row
    assert "08:30" in bob_row
    assert "17:00" in bob_row
    assert "08:00–17:00" in bob_row
    bill_row = html.split('data-user="bill"')[1].split("</tr>")[0]
    assert "Absent" in bill_row
    assert "no badge" in bill_row
    # Days either side, and the spreadsheet of this day.
    assert "day=2025-03-02" in html
    assert "day=2025-03-04" in html
    assert f"{XLSX}?unit=u1&amp;day=2025-03-03" in html


def test_the_attendance_page_in_chinese(town: World, client: Client) -> None:
    html = page(client, town.users["alice"], "u1", lang="zh-hans")

    assert '<html lang="zh-hans">' in html
    assert "退出登录" in html  # the site's own chrome, translated
    assert rows(html) == {"bob", "bill"}
    assert "50.0%" in html


def test_an_overnight_shift_shows_its_next_day_end(town: World, client: Client) -> None:
    li = create_staff(username="li", roles=[Role.WORKER], unit=town.unit1, areas=[town.street1])
    Shift.objects.create(user=li, weekday=Weekday.MONDAY, start=dt.time(22), end=dt.time(6))
    track(badge(li, "badge-li"), at(22), at(22) + dt.timedelta(hours=8))

    html = page(client, town.users["alice"], "u1")
    li_row = html.split('data-user="li"')[1].split("</tr>")[0]
    assert "22:00–06:00 (+1)" in li_row
    assert "On duty" in li_row
    assert "03-04 06:00" in li_row  # the last fix, on Tuesday


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("yesterday", "The day must be a date like 2025-03-01."),
        ("2025-02-30", "The day must be a date like 2025-03-01."),
        ("1999-12-31", "Choose a day between 2000-01-01 and"),
        ("9999-01-01", "Choose a day between 2000-01-01 and"),
        ("<script>alert(1)</script>", "The day must be a date like 2025-03-01."),
    ],
)
def test_a_bad_day_is_a_clear_400(town: World, client: Client, day: str, message: str) -> None:
    response = get(client, town.users["alice"], ATTENDANCE, unit="u1", day=day)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "<script>alert" not in html
    assert get(client, None, XLSX, unit="u1", day=day).status_code == 400


def test_an_unknown_unit_is_refused(town: World, client: Client) -> None:
    assert get(client, town.users["dave"], ATTENDANCE, unit="nope").status_code == 403
    assert get(client, town.users["dave"], ATTENDANCE, unit="'; drop").status_code == 403


def test_a_dispatcher_without_areas_sees_no_unit(world: World, client: Client) -> None:
    nobody = create_staff(username="nina", roles=[Role.DISPATCHER])
    response = get(client, nobody, ATTENDANCE)
    assert response.status_code == 200
    assert "No unit works in your areas." in response.content.decode()
    assert get(client, nobody, XLSX).status_code == 403


# --- The spreadsheet -----------------------------------------------------------------------


def test_the_spreadsheet_has_the_pages_rows(town: World, client: Client) -> None:
    response = get(client, town.users["dave"], XLSX, unit="u1", day="2025-03-03")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="attendance-u1-2025-03-03.xlsx"' in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "2025-03-03"
    assert sheet["A2"].value == "On-duty rate"
    assert sheet["B2"].value == "50.0%"
    people = {row[0]: row for row in sheet.iter_rows(min_row=5, values_only=True)}
    assert set(people) == {"bob", "bill"}
    assert people["bob"][2] == "08:00–17:00"
    assert people["bob"][3] == "Late"
    assert people["bob"][6] == "08:30"
    assert people["bill"][3] == "Absent"


def test_a_name_that_looks_like_a_formula_stays_text(town: World, client: Client) -> None:
    bob = town.users["bob"]
    bob.profile.display_name = '=HYPERLINK("http://evil.example","x")'
    bob.profile.save()

    response = get(client, town.users["dave"], XLSX, unit="u1", day="2025-03-03")
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [row[0] for row in sheet.iter_rows(min_row=5)]
    [cell] = [c for c in cells if str(c.value).startswith("=")]
    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://evil.example","x")'


# --- Coverage ------------------------------------------------------------------------------


def test_the_coverage_page_shows_shares_and_the_missing(world: World, client: Client) -> None:
    bob, _bill = world.users["bob"], world.users["bill"]
    now = timezone.now()
    fresh = badge(bob, "badge-bob")
    LatestPosition.objects.create(device=fresh, fixed_at=now, received_at=now, lat=IN[0], lon=IN[1])
    truck = Device.objects.create(
        kind=DeviceKind.VEHICLE,
        protocol=Protocol.JT808,
        identifier="13800000000",
        plate="粤A12345",
        unit=world.unit1,
    )
    old = now - dt.timedelta(hours=2)
    LatestPosition.objects.create(device=truck, fixed_at=old, received_at=old, lat=IN[0], lon=IN[1])

    for lang, staff_word in (("en", "Staff"), ("zh-hans", "")):
        response = get(client, world.users["alice"], COVERAGE, lang, all="1")
        assert response.status_code == 200
        html = response.content.decode()
        card = html.split('id="unit-u1"')[1].split("</section>")[0]
        assert "50.0%" in card  # bob of bob and bill
        assert "0.0%" in card  # the truck is silent
        assert "bill" in card
        assert "粤A12345" in card
        assert 'data-reason="no_device"' in card
        assert 'data-reason="silent"' in card
        assert staff_word in card
    en = get(client, world.users["alice"], COVERAGE, all="1").content.decode()
    assert "No device" in en
    assert "Count only staff on duty" in en

    # By default only staff on duty count, and nobody has a shift now.
    default = get(client, world.users["alice"], COVERAGE).content.decode()
    card = default.split('id="unit-u1"')[1].split("</section>")[0]
    assert "bill" not in card
    assert "Only staff on duty now are counted." in default
