# ruff: noqa: F811  (`orders` is a fixture imported from test_views)
"""The monthly evaluation report: its figures equal the indicators computed directly (and a
full recomputation from the orders), the previous month's too; the peers, the composite
score's parts; who may open which unit's or area's report; bad requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from yunbao.insight import indicators
from yunbao.insight.drilldown import scan
from yunbao.insight.indicators import INDICATORS, Filter
from yunbao.insight.models import Score
from yunbao.insight.report import Subject, month_bounds, monthly, previous_month
from yunbao.insight.store import catch_up
from yunbao.insight.tests.helpers import at, report_at
from yunbao.insight.tests.test_views import client_for, orders  # noqa: F401  (a fixture)
from yunbao.insight.views import rate_text, scope_of
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder

pytestmark = pytest.mark.django_db

REPORT = "/insight/report/"
MARCH = dt.date(2025, 3, 1)
FEBRUARY = dt.date(2025, 2, 1)


@pytest.fixture(autouse=True)
def _shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def february(world: World, orders: dict[str, WorkOrder]) -> WorkOrder:
    """An order of the month before in street one, dispatched to unit one and closed late
    (handled after its two-hour limit), rated 2."""
    u = world.users
    day = dt.date(2025, 2, 12)
    order = report_at(world, at(9, day=day))
    actions.accept(order, actor=u["alice"], at=at(9, 5, day=day))
    actions.dispatch(
        order, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=at(9, 10, day=day)
    )
    actions.start(order, actor=u["bob"], at=at(9, 30, day=day))
    actions.finish(
        order, actor=u["bob"], note="已清理", photos=[stored_photo()], at=at(14, day=day)
    )
    actions.verify(order, actor=u["carol"], at=at(14, 30, day=day))
    actions.rate(order, actor=u["erin"], rating=2, at=at(15, day=day))
    catch_up()
    return order


def month_filter(month: dt.date, **kw: Any) -> Filter:
    start, end = month_bounds(month)
    return Filter(start=start, end=end, **kw)


def test_month_arithmetic() -> None:
    assert month_bounds(dt.date(2024, 2, 17)) == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert month_bounds(dt.date(2025, 12, 31)) == (dt.date(2025, 12, 1), dt.date(2025, 12, 31))
    assert previous_month(dt.date(2025, 1, 15)) == dt.date(2024, 12, 1)


def test_a_units_figures_are_the_indicators_computed_directly(
    world: World, orders: dict[str, WorkOrder], february: WorkOrder
) -> None:
    scope = scope_of(world.users["dave"])
    m = monthly(Subject(unit=world.unit1), MARCH, Filter(), scope.covers)
    direct = indicators.report(month_filter(MARCH, unit=world.unit1.pk))
    before = indicators.report(month_filter(FEBRUARY, unit=world.unit1.pk))
    assert m.now.counts == direct.counts
    assert m.now.indicators == direct.indicators
    assert m.now.durations == direct.durations
    assert m.now.scores == direct.scores
    assert m.before.counts == before.counts
    assert m.before.indicators == before.indicators
    # And both equal a recomputation from the orders and their timelines.
    assert scan(month_filter(MARCH, unit=world.unit1.pk))[0] == m.now.counts
    assert scan(month_filter(FEBRUARY, unit=world.unit1.pk))[0] == m.before.counts
    # The hand-built cases: March's one order of unit one closed on time, February's late.
    assert (
        m.now.indicators["on_time_closing"].numerator,
        m.now.indicators["on_time_closing"].denominator,
    ) == (1, 1)
    assert (
        m.before.indicators["on_time_closing"].numerator,
        m.before.indicators["on_time_closing"].denominator,
    ) == (0, 1)
    on_time = next(r for r in m.rates if r.key == "on_time_closing")
    assert on_time.change == pytest.approx(1.0)
    assert on_time.better is True
    # Every day of the month is there, the figures of the days add up to the month's.
    assert [d for d, _r in m.days] == [MARCH + dt.timedelta(days=i) for i in range(31)]
    assert sum(r.counts["reports"] for _d, r in m.days) == m.now.counts["reports"]


def test_an_areas_figures_and_its_peers(
    world: World, orders: dict[str, WorkOrder], february: WorkOrder
) -> None:
    dave = scope_of(world.users["dave"])
    street = monthly(Subject(area=world.street1), MARCH, Filter(), dave.covers)
    direct = indicators.report(Filter.of(start=MARCH, end=dt.date(2025, 3, 31), area=world.street1))
    assert street.now.counts == direct.counts
    assert street.now.scores == direct.scores
    assert street.now.counts["reports"] == 2
    # The district's streets, ranked by the area score, each counted by its own filter.
    assert {p.name for p in street.peers} == {"一街", "二街"}
    for p in street.peers:
        area = world.street1 if p.name == "一街" else world.street2
        alone = indicators.report(Filter.of(start=MARCH, end=dt.date(2025, 3, 31), area=area))
        assert p.score == alone.scores[Score.AREA], p.name
        assert p.reports == alone.counts["reports"]
    assert [p.me for p in street.peers].count(True) == 1
    scores = [p.score for p in street.peers if p.score is not None]
    assert scores == sorted(scores, reverse=True)
    village = world.grid1.parent
    v = monthly(Subject(area=village), MARCH, Filter(), dave.covers)
    assert v.now.counts == street.now.counts  # the street's one village
    assert [p.name for p in v.peers] == [village.display_name]  # villages of the same street


def test_a_street_dispatcher_sees_no_other_streets_among_the_peers(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    response = client_for(world, "alice").get(f"{REPORT}?month=2025-03&area={world.street1.code}")
    assert response.status_code == 200
    assert [p.name for p in response.context["m"].peers] == ["一街"]
    html = response.content.decode()
    assert "二街" not in html.split('id="r-sheet"')[1]


def test_the_composite_score_is_the_sum_of_its_parts(
    world: World, orders: dict[str, WorkOrder], february: WorkOrder
) -> None:
    scope = scope_of(world.users["dave"])
    for subject in (Subject(unit=world.unit1), Subject(area=world.street1)):
        m = monthly(subject, MARCH, Filter(), scope.covers)
        assert {c.key for c in m.components} == set(indicators.weights()[subject.score])
        points = [c.points for c in m.components if c.points is not None]
        assert m.score is not None
        assert sum(points) == pytest.approx(m.score, abs=0.01)
        for c in m.components:
            rate = m.now.indicators[c.key].rate
            if rate is not None:
                want = 1 - rate if INDICATORS[c.key].lower_is_better else rate
                assert c.value == pytest.approx(want)


def test_the_page_shows_the_figures(
    world: World, orders: dict[str, WorkOrder], february: WorkOrder
) -> None:
    response = client_for(world, "dave").get(f"{REPORT}?month=2025-03&unit={world.unit1.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "@page" in html
    assert "size: A4" in html
    direct = indicators.report(month_filter(MARCH, unit=world.unit1.pk))
    rows = {r["key"]: r for r in response.context["rows"]["rates"]}
    for key, r in direct.indicators.items():
        assert rows[key]["now"] == rate_text(key, r.rate)
        assert rows[key]["now_parts"] == (r.numerator, r.denominator)
        assert f'data-indicator="{key}"' in html
    assert response.context["score"] == f"{direct.scores[Score.UNIT]:.1f}"
    for svg in ("r-trend", "r-durations-chart", "r-peers", "r-score-chart"):
        assert f'id="{svg}"' in html, svg
    assert response.context["rows"]["rates"][0]["before"] != ""


def test_an_empty_month_is_a_report_of_dashes(world: World) -> None:
    response = client_for(world, "dave").get(f"{REPORT}?month=2025-03&unit={world.unit1.pk}")
    assert response.status_code == 200
    assert response.context["score"] == "—"
    assert all(r["now"] == "—" for r in response.context["rows"]["rates"])
    assert response.context["position"] is None


# --- Access ---------------------------------------------------------------------------------


def test_the_form_offers_what_each_may_open(world: World) -> None:
    units = lambda name: [u.code for u in client_for(world, name).get(REPORT).context["units"]]  # noqa: E731
    areas = lambda name: [a.code for a in client_for(world, name).get(REPORT).context["areas"]]  # noqa: E731
    assert units("dave") == ["u1", "u2"]
    assert units("ada") == ["u1", "u2"]
    assert units("carol") == ["u1"]
    assert units("alice") == []
    assert areas("olga") == ["T02", "T0201"]
    assert areas("dave") == ["T01", "T0101", "T02", "T0201"]


@pytest.mark.parametrize(
    ("name", "query", "status"),
    [
        ("dave", "unit=u1", 200),
        ("dave", "unit=u2", 200),
        ("ada", "unit=u2", 200),
        ("ada", "area=T0201", 200),
        ("carol", "unit=u1", 200),
        ("carol", "unit=u2", 403),
        ("carol", "area=T01", 200),
        ("carol", "area=T02", 403),
        ("alice", "unit=u1", 403),
        ("alice", "area=T0101", 200),
        ("alice", "area=T02", 403),
        ("olga", "area=T01", 403),
        ("olga", "area=T0201", 200),
    ],
)
def test_who_may_open_which_report(world: World, name: str, query: str, status: int) -> None:
    if query.startswith("unit="):
        code = query.split("=")[1]
        unit = world.unit1 if code == "u1" else world.unit2
        query = f"unit={unit.pk}"
    response = client_for(world, name).get(f"{REPORT}?month=2025-03&{query}")
    assert response.status_code == status
    if status == 403:
        assert response.context["reason"]
        assert 'id="r-sheet"' not in response.content.decode()


@pytest.mark.parametrize("name", ["bob", "walt", "erin", "fay", "oscar"])
def test_other_roles_are_refused(world: World, name: str) -> None:
    assert client_for(world, name).get(REPORT).status_code == 403
    assert client_for(world, name).get(f"{REPORT}?unit={world.unit1.pk}").status_code == 403


def test_anonymous_visitors_go_to_the_login_page(world: World) -> None:
    response = Client().get(REPORT)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_a_supervisors_unit_report_counts_their_areas_only(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    # An order of unit one in street two: Carol (street one) must not count it.
    u = world.users
    away = report_at(world, at(10), street=2)
    actions.accept(away, actor=u["olga"], at=at(10, 5))
    actions.dispatch(away, actor=u["olga"], unit=world.unit1, worker=u["bob"], at=at(10, 10))
    catch_up()
    carol = client_for(world, "carol").get(f"{REPORT}?month=2025-03&unit={world.unit1.pk}")
    dave = client_for(world, "dave").get(f"{REPORT}?month=2025-03&unit={world.unit1.pk}")
    mine = indicators.report(month_filter(MARCH, unit=world.unit1.pk, area_path=world.street1.path))
    everywhere = indicators.report(month_filter(MARCH, unit=world.unit1.pk))
    assert carol.context["m"].now.counts == mine.counts
    assert dave.context["m"].now.counts == everywhere.counts
    assert everywhere.counts["dispatched"] == mine.counts["dispatched"] + 1


@pytest.mark.parametrize(
    "query",
    [
        "month=2025-13",
        "month=spring",
        "month=1999-12",
        "month=2999-01",
        "unit=abc",
        "unit=99999",
        "unit=99999999999999999999",
        "area=NOPE",
        "area=T010101",  # a grid
        "area=T00",  # the district
        "unit=1&area=T01",
    ],
)
def test_bad_requests_say_why(world: World, query: str) -> None:
    response = client_for(world, "dave").get(f"{REPORT}?{query}", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, query
    assert response.context["error"]
    assert 'id="r-sheet"' not in response.content.decode()
