"""Reading orders: scoped by `visible_to`, filtered, cursor-paginated; one order in full."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from yunbao.api.tests.conftest import assert_error
from yunbao.workorders.actions import allowed_actions
from yunbao.workorders.models import Status, WorkOrder
from yunbao.workorders.tests.helpers import bring_to, new_order

ORDERS = "/api/v1/orders"


def numbers(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {o["number"] for o in response.json()["results"]}


def test_each_person_lists_exactly_what_visible_to_gives_them(world: Any, as_user: Any) -> None:
    bring_to(world, Status.IN_PROGRESS)
    bring_to(world, Status.DISPATCHED, street=2)
    new_order(world, reporter="emma", street=2)
    new_order(world)
    for name in ["erin", "emma", "fay", "alice", "bob", "bill", "carol", "dave", "oscar", "ada"]:
        expected = set(
            WorkOrder.objects.visible_to(world.users[name]).values_list("number", flat=True)
        )
        assert numbers(as_user(name).get(ORDERS)) == expected, name
    # The outsider sees their own street only, and the district manager both.
    assert numbers(as_user("olga").get(ORDERS)) == set(
        WorkOrder.objects.filter(area_path__startswith=world.street2.path).values_list(
            "number", flat=True
        )
    )
    assert len(numbers(as_user("dave").get(ORDERS))) == 4


def test_filters_combine(world: Any, as_user: Any) -> None:
    working = bring_to(world, Status.IN_PROGRESS)
    fresh = new_order(world)
    other = bring_to(world, Status.DISPATCHED, street=2)
    dave = as_user("dave")
    assert numbers(dave.get(ORDERS, {"status": "in_progress"})) == {working.number}
    assert numbers(dave.get(ORDERS, {"status": ["in_progress", "submitted"]})) == {
        working.number,
        fresh.number,
    }
    assert numbers(dave.get(ORDERS, {"area": world.street2.code})) == {other.number}
    assert numbers(dave.get(ORDERS, {"unit": "u1"})) == {working.number}
    assert numbers(dave.get(ORDERS, {"category": world.category.code})) == {
        working.number,
        fresh.number,
        other.number,
    }
    assert numbers(as_user("bob").get(ORDERS, {"assigned_to_me": "true"})) == {working.number}
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert numbers(dave.get(ORDERS, {"created_after": later})) == set()
    assert len(numbers(dave.get(ORDERS, {"created_before": later}))) == 3
    assert_error(dave.get(ORDERS, {"area": "NOPE"}), 422, "area")
    assert_error(dave.get(ORDERS, {"status": "lost"}), 422)
    assert_error(dave.get(ORDERS, {"created_after": "2025-01-01T00:00:00"}), 422)


def test_overdue_filter_uses_the_deadlines(world: Any, as_user: Any) -> None:
    late = new_order(world)
    WorkOrder.objects.filter(pk=late.pk).update(accept_due=timezone.now() - timedelta(hours=1))
    on_time = new_order(world)
    dave = as_user("dave")
    assert numbers(dave.get(ORDERS, {"overdue": "true"})) == {late.number}
    assert numbers(dave.get(ORDERS, {"overdue": "false"})) == {on_time.number}
    listed = {o["number"]: o for o in dave.get(ORDERS).json()["results"]}
    assert listed[late.number]["sla"]["level"] == "overdue"
    assert listed[late.number]["sla"]["remaining_seconds"] < 0
    assert listed[on_time.number]["sla"]["level"] == "ok"


def test_pages_follow_the_cursor_without_gaps_or_repeats(world: Any, as_user: Any) -> None:
    made = [new_order(world) for _ in range(5)]
    dave = as_user("dave")
    seen: list[str] = []
    page = dave.get(ORDERS, {"limit": 2}).json()
    seen += [o["number"] for o in page["results"]]
    # A report arriving between pages does not shift the next ones.
    new_order(world)
    while page["next_cursor"]:
        assert len(page["results"]) == 2 or page["next_cursor"] is None
        page = dave.get(ORDERS, {"limit": 2, "cursor": page["next_cursor"]}).json()
        seen += [o["number"] for o in page["results"]]
    assert seen == [
        o.number for o in sorted(made, key=lambda o: (o.created_at, o.pk), reverse=True)
    ]


def test_page_size_has_a_default_and_a_maximum(world: Any, as_user: Any, settings: Any) -> None:
    settings.YUNBAO_API_PAGE_SIZE = 2
    settings.YUNBAO_API_MAX_PAGE_SIZE = 3
    for _ in range(4):
        new_order(world)
    dave = as_user("dave")
    assert len(dave.get(ORDERS).json()["results"]) == 2
    assert len(dave.get(ORDERS, {"limit": 500}).json()["results"]) == 3
    assert_error(dave.get(ORDERS, {"limit": 0}), 422, "limit")


def test_a_cursor_we_did_not_make_is_refused(world: Any, as_user: Any) -> None:
    dave = as_user("dave")
    for cursor in ["bm90IGpzb24", "WyJ4Il0", "WzEsMl0", "WyIyMDI1LTAxLTAxIiwgMV0", "A" * 150]:
        assert_error(dave.get(ORDERS, {"cursor": cursor}), 422, "cursor")
    assert_error(dave.get(ORDERS, {"cursor": "has spaces"}), 422, "cursor")


def test_one_order_in_full(world: Any, as_user: Any) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    body = as_user("carol").get(f"{ORDERS}/{order.number}").json()
    assert body["status"] == "in_progress"
    assert body["unit"] == {"code": "u1", "name": str(world.unit1)}
    assert body["worker"]["username"] == "bob"
    assert body["reporter"] == {"name": "Erin", "phone": "13800000000"}
    assert [e["action"] for e in body["timeline"]] == ["submit", "accept", "dispatch", "start"]
    assert body["actions"] == [t.action for t in allowed_actions(order, world.users["carol"])]
    assert body["pending_request"] is None
    assert body["sla"]["stage"] == "handle"


def test_a_resident_sees_their_report_without_staff_names_or_contacts(
    world: Any, as_user: Any
) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    body = as_user("erin").get(f"{ORDERS}/{order.number}").json()
    assert body["worker"] is None
    assert body["reporter"] is None
    assert all(e["actor"] is None and e["data"] == {} for e in body["timeline"])
    assert body["actions"] == []


def test_another_areas_order_is_a_404_like_one_that_does_not_exist(
    world: Any, as_user: Any
) -> None:
    order = new_order(world)
    olga = as_user("olga")
    hidden = assert_error(olga.get(f"{ORDERS}/{order.number}"), 404)
    missing = assert_error(olga.get(f"{ORDERS}/YB19990101000001"), 404)
    assert hidden == missing
