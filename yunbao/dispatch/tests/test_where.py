"""The "where would this go?" page: who may use it, and what it explains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from yunbao.dispatch.models import AutoThreshold, RoutingRule
from yunbao.dispatch.policy import clear_caches
from yunbao.org.models import Shift, Unit, UnitKind
from yunbao.testing import World

pytestmark = pytest.mark.django_db

URL = reverse("dispatch-where")


@pytest.fixture(autouse=True)
def _fresh_caches(settings: Any) -> Iterator[None]:
    settings.YUNBAO_AUTO_DISPATCH = True
    settings.YUNBAO_AUTO_DISPATCH_THRESHOLD = 0.8
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def town(world: World) -> World:
    """A district-wide catch-all, street one's rule for the test category, Bob on duty."""
    catch_all = Unit.objects.create(code="all", name="城管中队", kind=UnitKind.ENFORCEMENT)
    RoutingRule.objects.create(unit=catch_all, note="兜底")
    RoutingRule.objects.create(category=world.category, area=world.street1, unit=world.unit1)
    for day in range(7):
        Shift.objects.create(user=world.users["bob"], weekday=day, start="00:00", end="00:00")
    return world


def page(client: Client, user: Any, **params: Any) -> Any:
    client.force_login(user)
    return client.get(URL, params, HTTP_ACCEPT_LANGUAGE="en")


@pytest.mark.parametrize("name", ["erin", "bob", "fay", "oscar"])
def test_it_refuses_residents_workers_inspectors_and_organisers(
    world: World, client: Client, name: str
) -> None:
    assert page(client, world.users[name]).status_code == 403


def test_it_sends_an_anonymous_visitor_to_the_login_page(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize("name", ["alice", "carol", "dave", "ada"])
def test_it_opens_for_dispatchers_supervisors_managers_and_admins(
    world: World, client: Client, name: str
) -> None:
    response = page(client, world.users[name])
    assert response.status_code == 200
    assert "Where would this go?" in response.content.decode()


def test_it_explains_an_automatic_dispatch(town: World, client: Client) -> None:
    lat, lon = town.point1()

    response = page(client, town.users["alice"], lat=lat, lon=lon, category="E9901")

    assert response.status_code == 200
    html = response.content.decode()
    assert "It would be dispatched automatically." in html
    # The grid and its ancestors.
    for name in ("测试区", "一街", "一村", "一格", "T010101"):
        assert name in html
    # Both matching rules, the street's chosen over the district's catch-all, and why.
    rules = response.context["rules"]
    assert [r["rule"].unit.code for r in rules] == ["u1", "all"]
    assert [r["chosen"] for r in rules] == [True, False]
    assert "for this very category in 一街 (Street / town)" in html
    assert "for any category in the whole district" in html
    # The unit and who is on duty, ranked.
    assert "一街环卫" in html
    assert [c.worker.username for c in response.context["ranking"]] == ["bob"]
    assert "bob" in html
    # The thresholds.
    assert "Global threshold" in html
    assert "80 %" in html
    assert "chosen by the reporter" in html


def test_it_explains_why_not_automatic(town: World, client: Client) -> None:
    AutoThreshold.objects.create(category=town.category, threshold=0.9, enabled=False)
    Shift.objects.all().delete()
    lat, lon = town.point1()

    response = page(client, town.users["dave"], lat=lat, lon=lon, category="E9901")

    html = response.content.decode()
    assert "It would be left to the dispatcher:" in html
    assert "Automatic dispatch is switched off for this category." in html
    assert "Nobody of the responsible unit is on duty here now." in html
    assert "category_manual" in html
    assert "nobody_on_duty" in html
    assert "This category's threshold" in html
    assert "90 %" in html


def test_it_takes_an_area_code_instead_of_a_point(town: World, client: Client) -> None:
    response = page(client, town.users["alice"], area="T010102", category="E9901")

    assert response.status_code == 200
    plan = response.context["plan"]
    assert plan.area == town.grid1b
    assert plan.route.unit == town.unit1


def test_it_shows_a_point_outside_every_grid(town: World, client: Client) -> None:
    response = page(client, town.users["alice"], lat=23.03, lon=113.03, category="E9901")

    html = response.content.decode()
    assert "Outside every grid." in html
    assert "The place lies outside every grid." in html
    # Filed under the district, where only the catch-all applies.
    assert [r["rule"].unit.code for r in response.context["rules"]] == ["all"]


def test_it_asks_for_a_place(town: World, client: Client) -> None:
    response = page(client, town.users["alice"], category="E9901")
    assert response.status_code == 200
    assert "Give a latitude and a longitude, or an area code." in response.content.decode()
    assert "plan" not in response.context

    response = page(client, town.users["alice"], area="NOPE")
    assert "No area has this code." in response.content.decode()
