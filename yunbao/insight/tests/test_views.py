"""The operations centre's pages: who may open them, the filters and the viewer's areas, the
drill-down (exactly the orders `orders_behind` gives, within what the viewer may see), the
big screen's JSON and its 304, and the home page's links."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from yunbao.insight.drilldown import orders_behind
from yunbao.insight.indicators import INDICATORS, Filter
from yunbao.insight.store import catch_up
from yunbao.insight.tests.helpers import MONDAY, at, report_at
from yunbao.insight.views import AreasFilter, formula
from yunbao.org.actions import create_staff
from yunbao.org.models import Role
from yunbao.sla.models import AlertLevel, SlaAlert
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder

pytestmark = pytest.mark.django_db

DASHBOARD = "/insight/"
ORDERS = "/insight/orders/"
SCREEN = "/insight/screen/"
SCREEN_JSON = "/insight/screen.json"
WEEK = f"start={MONDAY.isoformat()}&end={(MONDAY + dt.timedelta(days=6)).isoformat()}"
VIEWERS = ("alice", "carol", "dave", "olga", "ada")
OTHERS = ("bob", "walt", "erin", "fay", "oscar")


@pytest.fixture(autouse=True)
def _shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


def client_for(world: World, name: str) -> Client:
    client = Client()
    client.force_login(world.users[name])
    return client


@pytest.fixture
def orders(world: World) -> dict[str, WorkOrder]:
    """Monday of the helpers' week. Street one: `closed` (every stage on time, rated 5) and
    `late` (accepted three hours after the report: the filing limit is two); street two:
    `other` (accepted on time, then waiting for dispatch)."""
    u = world.users
    closed = report_at(world, at(9))
    actions.accept(closed, actor=u["alice"], at=at(9, 10))
    actions.dispatch(closed, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=at(9, 20))
    actions.start(closed, actor=u["bob"], at=at(9, 30))
    actions.finish(closed, actor=u["bob"], note="已清理", photos=[stored_photo()], at=at(10))
    actions.verify(closed, actor=u["carol"], at=at(10, 30))
    actions.rate(closed, actor=u["erin"], rating=5, at=at(11))
    late = report_at(world, at(9))
    actions.accept(late, actor=u["alice"], at=at(12))
    other = report_at(world, at(9), street=2)
    actions.accept(other, actor=u["olga"], at=at(9, 30))
    catch_up()
    return {"closed": closed, "late": late, "other": other}


def tile(response: Any, key: str) -> dict[str, Any]:
    return next(t for t in response.context["tiles"] if t["key"] == key)


def listed(response: Any) -> set[str]:
    return {o.number for o in response.context["page"].object_list}


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [DASHBOARD, ORDERS + "?indicator=closing_rate", SCREEN, SCREEN_JSON]
)
def test_anonymous_visitors_go_to_the_login_page(world: World, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("name", OTHERS)
@pytest.mark.parametrize(
    "url", [DASHBOARD, ORDERS + "?indicator=closing_rate", SCREEN, SCREEN_JSON]
)
def test_workers_residents_inspectors_and_organisers_are_refused(
    world: World, name: str, url: str
) -> None:
    assert client_for(world, name).get(url).status_code == 403


@pytest.mark.parametrize("name", VIEWERS)
def test_managers_dispatchers_supervisors_and_admins_see_every_page(
    world: World, orders: dict[str, WorkOrder], name: str
) -> None:
    client = client_for(world, name)
    page = client.get(DASHBOARD)
    assert page.status_code == 200
    assert {t["key"] for t in page.context["tiles"]} == set(INDICATORS)
    assert client.get(f"{ORDERS}?indicator=on_time_filing&part=denominator").status_code == 200
    assert client.get(SCREEN).status_code == 200
    assert client.get(SCREEN_JSON).status_code == 200


def test_staff_without_an_area_are_refused(world: World) -> None:
    nobody = create_staff(username="nina", password="pw-nina", roles=[Role.DISPATCHER])
    client = Client()
    client.force_login(nobody)
    response = client.get(DASHBOARD)
    assert response.status_code == 403
    assert response.context["reason"]


def test_only_post_is_refused(world: World) -> None:
    assert client_for(world, "dave").post(DASHBOARD).status_code == 405


# --- Areas and filters --------------------------------------------------------------------------


def test_the_default_is_the_viewers_areas(world: World, orders: dict[str, WorkOrder]) -> None:
    # Three reports filed that Monday: two in street one, one in street two.
    for name, filed in (("alice", 2), ("carol", 2), ("olga", 1), ("dave", 3), ("ada", 3)):
        response = client_for(world, name).get(f"{DASHBOARD}?{WEEK}")
        assert tile(response, "on_time_filing")["denominator"] == filed, name
    alice = client_for(world, "alice").get(f"{DASHBOARD}?{WEEK}")
    assert tile(alice, "on_time_filing")["numerator"] == 1  # `late` was filed late
    assert tile(alice, "on_time_filing")["rate"] == "50.0%"
    assert tile(alice, "closing_rate")["numerator"] == 1


def test_area_choices_are_the_viewers_areas(world: World, orders: dict[str, WorkOrder]) -> None:
    alice = client_for(world, "alice").get(DASHBOARD)
    assert [a.code for a in alice.context["streets"]] == ["T01"]
    assert [a.code for a in alice.context["villages"]] == ["T0101"]
    assert alice.context["grids"] == []  # no village chosen yet
    dave = client_for(world, "dave").get(f"{DASHBOARD}?village=T0101")
    assert [a.code for a in dave.context["streets"]] == ["T01", "T02"]
    assert [a.code for a in dave.context["grids"]] == ["T010101", "T010102"]
    assert dave.context["street"].code == "T01"


@pytest.mark.parametrize("query", ["street=T02", "village=T0201", "grid=T020101", "area=T00"])
def test_an_area_outside_the_viewers_is_refused(
    world: World, orders: dict[str, WorkOrder], query: str
) -> None:
    client = client_for(world, "alice")
    assert client.get(f"{DASHBOARD}?{query}").status_code == 403
    drill = f"{ORDERS}?indicator=on_time_filing&part=denominator&{query}"
    assert client.get(drill).status_code == 403
    # The district-level manager may choose any of them.
    assert client_for(world, "dave").get(f"{DASHBOARD}?{query}").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "street=NOPE",
        "start=2025-13-01",
        "start=2025-03-05&end=2025-03-01",
        "start=2000-01-01&end=2025-01-01",
        "unit=abc",
        "unit=99999",
        "source=nowhere",
        "by=year",
        "series=nothing",
        "preset=next_year",
    ],
)
def test_bad_filters_are_400_with_the_form(world: World, query: str) -> None:
    response = client_for(world, "dave").get(f"{DASHBOARD}?{query}")
    assert response.status_code == 400
    assert response.context["error"]
    assert "i-filters" in response.content.decode()


def test_filters_narrow_the_figures(world: World, orders: dict[str, WorkOrder]) -> None:
    dave = client_for(world, "dave")

    def filed(query: str) -> int:
        return tile(dave.get(f"{DASHBOARD}?{WEEK}&{query}"), "on_time_filing")["denominator"]

    assert filed("") == 3
    assert filed("street=T02") == 1
    assert filed("village=T0101") == 2
    assert filed("grid=T010101") == 2
    assert filed("grid=T010102") == 0
    assert filed(f"unit={world.unit1.pk}") == 1  # only `closed` was dispatched
    assert filed(f"category={world.category.pk}") == 3
    assert filed("source=hotline") == 0
    # A period without the Monday counts nothing.
    assert (
        tile(dave.get(f"{DASHBOARD}?start=2025-04-01&end=2025-04-30"), "on_time_filing")[
            "denominator"
        ]
        == 0
    )


def test_presets_set_the_period(world: World) -> None:
    dave = client_for(world, "dave")
    today = timezone.localdate()
    params = dave.get(f"{DASHBOARD}?preset=last_7_days").context["params"]
    assert (params.start, params.end) == (today - dt.timedelta(days=6), today)
    params = dave.get(f"{DASHBOARD}?preset=last_month").context["params"]
    assert params.end == today.replace(day=1) - dt.timedelta(days=1)
    assert params.start == params.end.replace(day=1)
    params = dave.get(DASHBOARD).context["params"]
    assert (params.start, params.end) == (today.replace(day=1), today)


def test_the_page_shows_formulas_durations_trend_and_rankings(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    response = client_for(world, "dave").get(f"{DASHBOARD}?{WEEK}&by=week&series=closing_rate")
    html = response.content.decode()
    with translation.override("zh-hans"):
        assert str(INDICATORS["on_time_filing"].definition) in html
        assert formula("on_time_filing") in html
        assert formula("accurate_filing").startswith("(")
    assert response.context["chart"]["bars"]  # one week with reports
    assert '<svg class="i-chart"' in html
    assert [r["name"] for r in response.context["units_ranked"]] == [str(world.unit1)]
    villages = [r["name"] for r in response.context["villages_ranked"]]
    assert sorted(villages) == ["一村", "二村"]
    stages = response.context["stages"]
    assert [s["n"] for s in stages][:1] == [3]  # three reports filed
    assert all({"mean", "p90"} <= set(s) for s in stages)
    # Every numerator and denominator is a link to its drill-down.
    links = re.findall(r'href="(/insight/orders/\?[^"]+)"', html)
    assert len(links) >= 2 * len(INDICATORS)


# --- Drill-down ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "olga", "dave", "ada"])
def test_the_drill_down_lists_exactly_the_orders_behind_within_the_viewers_areas(
    world: World, orders: dict[str, WorkOrder], name: str
) -> None:
    user = world.users[name]
    client = client_for(world, name)
    start, end = MONDAY, MONDAY + dt.timedelta(days=6)
    area = {"alice": world.street1.path, "olga": world.street2.path}.get(name, "")
    if name == "dave":
        area = world.district.path
    f = Filter(start=start, end=end, area_path=area)
    visible = set(WorkOrder.objects.visible_to(user).values_list("number", flat=True))
    for key in INDICATORS:
        for part in ("numerator", "denominator"):
            response = client.get(f"{ORDERS}?indicator={key}&part={part}&{WEEK}")
            assert response.status_code == 200
            expected = set(orders_behind(key, f, part).values_list("number", flat=True))
            assert listed(response) == expected & visible, (name, key, part)
            if name in ("alice", "olga"):
                mine = world.street1.path if name == "alice" else world.street2.path
                assert all(
                    WorkOrder.objects.get(number=n).area_path.startswith(mine)
                    for n in listed(response)
                )


def test_the_drill_down_matches_the_tile(world: World, orders: dict[str, WorkOrder]) -> None:
    alice = client_for(world, "alice")
    response = alice.get(f"{ORDERS}?indicator=on_time_filing&part=denominator&{WEEK}")
    assert listed(response) == {orders["closed"].number, orders["late"].number}
    response = alice.get(f"{ORDERS}?indicator=on_time_filing&part=numerator&{WEEK}")
    assert listed(response) == {orders["closed"].number}
    html = response.content.decode()
    assert f'href="/orders/{orders["closed"].number}/"' in html
    # The same link for the district's manager lists street two's order too.
    dave = client_for(world, "dave")
    response = dave.get(f"{ORDERS}?indicator=on_time_filing&part=denominator&{WEEK}")
    assert listed(response) == {o.number for o in orders.values()}
    response = dave.get(f"{ORDERS}?indicator=on_time_filing&part=denominator&{WEEK}&street=T02")
    assert listed(response) == {orders["other"].number}


def test_the_drill_down_refuses_unknown_indicators_and_parts(world: World) -> None:
    dave = client_for(world, "dave")
    assert dave.get(f"{ORDERS}?indicator=nothing").status_code == 400
    assert dave.get(f"{ORDERS}?indicator=closing_rate&part=all").status_code == 400


def test_the_drill_down_is_paginated(world: World, settings: Any) -> None:
    for i in range(55):
        report_at(world, at(8, i % 60))
    catch_up()
    dave = client_for(world, "dave")
    first = dave.get(f"{ORDERS}?indicator=valid_report_rate&part=denominator&{WEEK}")
    assert len(first.context["page"].object_list) == 50
    assert first.context["page"].paginator.count == 55
    second = dave.get(f"{ORDERS}?indicator=valid_report_rate&part=denominator&{WEEK}&page=2")
    assert len(second.context["page"].object_list) == 5
    assert not listed(first) & listed(second)


def test_several_areas_are_counted_together(world: World, orders: dict[str, WorkOrder]) -> None:
    """A dispatcher of grid one (a grid: its grid rows) and street two (village rows)."""
    two = create_staff(
        username="tess",
        password="pw-tess",
        roles=[Role.DISPATCHER],
        areas=[world.grid1, world.street2],
    )
    client = Client()
    client.force_login(two)
    response = client.get(f"{DASHBOARD}?{WEEK}")
    assert isinstance(response.context["params"].filter, AreasFilter)
    assert tile(response, "on_time_filing")["denominator"] == 3
    assert tile(response, "on_time_filing")["numerator"] == 2
    drill = client.get(f"{ORDERS}?indicator=on_time_filing&part=denominator&{WEEK}")
    assert listed(drill) == {o.number for o in orders.values()}
    # Grid one-b is not theirs, though its street's village holds grid one.
    assert client.get(f"{DASHBOARD}?grid=T010102").status_code == 403
    assert client.get(f"{DASHBOARD}?street=T01").status_code == 403


# --- The big screen -----------------------------------------------------------------------------


@pytest.fixture
def live(world: World) -> dict[str, Any]:
    """Now: an overdue report in street one (five hours old, the filing limit is two), a
    fresh one there, and one in street two; a time-limit alarm on the overdue one."""
    now = timezone.now()
    stale = report_at(world, now - dt.timedelta(hours=5))
    fresh = report_at(world, now - dt.timedelta(minutes=10))
    other = report_at(world, now - dt.timedelta(hours=5), street=2)
    assert stale.accept_due is not None
    SlaAlert.objects.create(
        order=stale,
        stage="accept",
        due=stale.accept_due,
        level=AlertLevel.ESCALATION1,
        fired_at=now - dt.timedelta(hours=3),
        batch="00000000-0000-0000-0000-000000000001",
    )
    catch_up()
    return {"stale": stale, "fresh": fresh, "other": other}


def test_the_screen_json_is_the_viewers_areas(world: World, live: dict[str, Any]) -> None:
    body = client_for(world, "alice").get(SCREEN_JSON).json()
    assert {row[0] for row in body["orders"]} == {live["stale"].number, live["fresh"].number}
    late = {row[0] for row in body["orders"] if row[4]}
    assert late == {live["stale"].number}
    assert [o["number"] for o in body["overdue"]] == [live["stale"].number]
    assert [a["number"] for a in body["alarms"]] == [live["stale"].number]
    kpis = {k["key"]: k["value"] for k in body["kpis"]}
    assert kpis["open"] == "2"
    assert kpis["overdue"] == "1"
    # Both of street one's reports fall in one H3 cell (100 m apart at most).
    assert sum(c["n"] for c in body["heat"]) == 2
    assert all(len(c["outline"]) >= 5 for c in body["heat"])
    dave = client_for(world, "dave").get(SCREEN_JSON).json()
    assert {row[0] for row in dave["orders"]} == {o.number for o in live.values()}
    assert len(dave["overdue"]) == 2


def test_the_screen_json_answers_304_when_nothing_changed(
    world: World, live: dict[str, Any]
) -> None:
    client = client_for(world, "alice")
    first = client.get(SCREEN_JSON)
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag == f'"{first.json()["version"]}"'
    assert first["Cache-Control"] == "private, no-cache"
    again = client.get(SCREEN_JSON, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    # A new report in street one changes the answer; one in street two does not.
    report_at(world, timezone.now(), street=2)
    catch_up()
    assert client.get(SCREEN_JSON, HTTP_IF_NONE_MATCH=etag).status_code == 304
    report_at(world, timezone.now())
    catch_up()
    assert client.get(SCREEN_JSON, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_the_screen_page_carries_its_data_and_strings(world: World, live: dict[str, Any]) -> None:
    response = client_for(world, "dave").get(SCREEN)
    html = response.content.decode()
    for marker in ('id="s-initial"', 'id="s-strings"', 'id="s-areas"', "insight/screen.js"):
        assert marker in html
    assert 'data-json-url="/insight/screen.json"' in html
    assert response.context["poll_seconds"] == 30


# --- Home page ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"), [*((n, True) for n in VIEWERS), *((n, False) for n in OTHERS)]
)
def test_the_home_page_links_to_the_pages_for_those_who_may_see_them(
    world: World, name: str, shown: bool
) -> None:
    html = client_for(world, name).get("/").content.decode()
    assert ('href="/insight/"' in html) is shown
    assert ('href="/insight/screen/"' in html) is shown
