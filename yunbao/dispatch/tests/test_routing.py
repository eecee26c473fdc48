"""Routing: the most specific rule wins (area depth, then category over group over any);
inactive rules are ignored; ties go to the lowest id and are reported; the admin pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from yunbao.catalog.models import Category, Kind
from yunbao.dispatch import actions, routing
from yunbao.dispatch.models import DispatchDecision, RoutingRule
from yunbao.dispatch.policy import clear_caches
from yunbao.org.models import Unit, UnitKind
from yunbao.testing import World
from yunbao.workorders import actions as orders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    # Rules of a rolled-back test leave no signal behind: start and end with empty caches.
    clear_caches()
    yield
    clear_caches()


def unit(code: str) -> Unit:
    return Unit.objects.create(code=code, name=f"单位{code}", kind=UnitKind.OTHER)


def rule(unit: Unit, **kwargs: Any) -> RoutingRule:
    return RoutingRule.objects.create(unit=unit, **kwargs)


def other_category(major: str = "98") -> Category:
    return Category.objects.create(
        code=f"E{major}01",
        kind=Kind.EVENT,
        major_code=major,
        major_name="其他",
        minor_code="01",
        name="其他事件",
    )


def test_it_prefers_the_deepest_area_from_district_to_grid(world: World) -> None:
    community1 = world.grid1.parent
    u_district, u_street, u_community, u_grid = (unit(c) for c in ("d", "s", "c", "g"))
    rule(u_district, area=world.district)
    rule(u_street, area=world.street1)
    rule(u_community, area=community1)
    rule(u_grid, area=world.grid1)

    assert routing.route(world.category, world.grid1).unit == u_grid
    # grid1b is in the same community, with no rule of its own.
    assert routing.route(world.category, world.grid1b).unit == u_community
    # Street two has no rules but the district's.
    found = routing.route(world.category, world.grid2)
    assert found.unit == u_district
    assert found.reasons["rule"]["area"] == "T00"
    assert found.reasons["rule"]["area_depth"] == 1


def test_it_lists_every_matching_rule_most_specific_first(world: World) -> None:
    u_any, u_street, u_grid = unit("any"), unit("street"), unit("grid")
    everywhere = rule(u_any)
    street = rule(u_street, area=world.street1)
    grid = rule(u_grid, area=world.grid1)
    rule(unit("elsewhere"), area=world.street2)  # does not contain grid1

    found = routing.route(world.category, world.grid1)

    assert [m.rule for m in found.matches] == [grid, street, everywhere]
    assert [m.depth for m in found.matches] == [4, 2, 0]
    assert found.reasons["matched"] == 3
    assert "tie" not in found.reasons


def test_it_prefers_the_category_over_its_group_over_any_in_the_same_area(world: World) -> None:
    u_any, u_group, u_exact = unit("any"), unit("group"), unit("exact")
    rule(u_any, area=world.street1)
    rule(u_group, area=world.street1, category_group="event:99")
    exact = rule(u_exact, area=world.street1, category=world.category)

    found = routing.route(world.category, world.grid1)
    assert found.unit == u_exact
    assert found.reasons["rule"]["category"] == "category"

    exact.active = False
    exact.save()
    found = routing.route(world.category, world.grid1)
    assert found.unit == u_group
    assert found.reasons["rule"]["category"] == "group"

    # Another group (event:98) only has the any-category rule.
    assert routing.route(other_category("98"), world.grid1).unit == u_any


def test_it_puts_the_area_before_the_category(world: World) -> None:
    u_grid_any, u_district_exact = unit("grid-any"), unit("district-exact")
    rule(u_grid_any, area=world.grid1)
    rule(u_district_exact, category=world.category)

    assert routing.route(world.category, world.grid1).unit == u_grid_any
    assert routing.route(world.category, world.grid2).unit == u_district_exact


def test_it_matches_rules_without_area_everywhere_and_without_category_for_any(
    world: World,
) -> None:
    catch_all = unit("all")
    rule(catch_all)

    for area in (world.grid1, world.grid2, world.street2, world.district):
        assert routing.route(world.category, area).unit == catch_all
    found = routing.route(None, world.grid1)
    assert found.unit == catch_all
    assert found.reasons["rule"] == {
        "id": found.rule.pk if found.rule else None,
        "rule": str(found.rule),
        "unit": "all",
        "area": None,
        "area_depth": 0,
        "category": "any",
    }


def test_it_routes_an_unknown_category_by_any_category_rules_only(world: World) -> None:
    rule(unit("exact"), area=world.grid1, category=world.category)
    rule(unit("group"), area=world.grid1, category_group="event:99")

    found = routing.route(None, world.grid1)

    assert found.rule is None
    assert found.unit is None
    assert found.matches == []
    assert found.reasons == {"rule": None, "matched": 0}


def test_it_ignores_inactive_rules_and_units(world: World) -> None:
    u_active, u_retired = unit("active"), unit("retired")
    rule(u_active, area=world.street1)
    rule(unit("off"), area=world.grid1, active=False)
    rule(u_retired, area=world.grid1.parent)
    u_retired.active = False
    u_retired.save()
    routing.clear()  # units are not rules: their edits apply after the TTL, or a clear

    found = routing.route(world.category, world.grid1)

    assert found.unit == u_active
    assert len(found.matches) == 1


def test_it_breaks_a_tie_by_the_lowest_id_and_reports_it(world: World) -> None:
    first = rule(unit("first"), area=world.street1, category_group="event:99")
    second = rule(unit("second"), area=world.street1, category_group="event:99")
    rule(unit("third"), area=world.street1)  # less specific: not part of the tie

    found = routing.route(world.category, world.grid1)

    assert found.rule == first
    assert found.reasons["tie"] == [first.pk, second.pk]
    # The same answer however often it is asked.
    assert {routing.route(world.category, world.grid1).rule for _ in range(5)} == {first}


def test_it_sees_a_rule_saved_in_this_process_at_once(world: World) -> None:
    assert routing.route(world.category, world.grid1).unit is None
    u = unit("new")
    rule(u, area=world.street1)  # the save signal clears this process's copy

    assert routing.route(world.category, world.grid1).unit == u

    RoutingRule.objects.filter(unit=u).delete()
    assert routing.route(world.category, world.grid1).unit is None


def test_it_refuses_a_rule_with_a_category_and_a_group_or_a_malformed_group(
    world: World,
) -> None:
    u = unit("u")
    with pytest.raises(ValidationError):
        actions.save_rule(
            RoutingRule(unit=u, category=world.category, category_group="event:99"), actor=None
        )
    for bad in ("event", "event:5", "thing:05", "EVENT:05 x"):
        with pytest.raises(ValidationError):
            actions.save_rule(RoutingRule(unit=u, category_group=bad), actor=None)
    good = RoutingRule(unit=u, category_group=" component:04 ")
    actions.save_rule(good, actor=None)
    assert RoutingRule.objects.get(pk=good.pk).category_group == "component:04"


def test_it_edits_rules_in_the_admin_through_the_action(world: World, client: Client) -> None:
    client.force_login(world.users["ada"])
    url = reverse("admin:dispatch_routingrule_add")
    base = {"unit": world.unit1.pk, "area": world.street1.pk, "active": "on", "note": ""}

    refused = client.post(url, {**base, "category": world.category.pk, "category_group": "x"})
    assert refused.status_code == 200
    assert not RoutingRule.objects.exists()

    saved = client.post(url, {**base, "category": "", "category_group": "event:99"})
    assert saved.status_code == 302
    assert routing.route(world.category, world.grid1).unit == world.unit1

    listing = client.get(
        reverse("admin:dispatch_routingrule_changelist"), {"area__level": "street", "q": "99"}
    )
    assert listing.status_code == 200
    assert "event:99" in listing.content.decode()


def test_it_shows_decisions_read_only_in_the_admin(world: World, client: Client) -> None:
    lat, lon = world.point1()
    order = orders.submit(actor=world.users["erin"], lat=lat, lon=lon, category=world.category)
    decision = DispatchDecision.objects.create(order=order, category=world.category)
    client.force_login(world.users["ada"])

    listing = client.get(reverse("admin:dispatch_dispatchdecision_changelist"))
    assert listing.status_code == 200
    assert order.number in listing.content.decode()
    assert client.get(reverse("admin:dispatch_dispatchdecision_add")).status_code == 403
    page = client.get(reverse("admin:dispatch_dispatchdecision_change", args=[decision.pk]))
    assert page.status_code == 200
    assert 'name="automatic"' not in page.content.decode()  # shown, not editable
