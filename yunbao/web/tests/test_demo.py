"""The demo district loads, obeys the rules, and loading it again adds nothing."""

from __future__ import annotations

import pytest

from yunbao.geo.locate import locate
from yunbao.geo.models import Area, Level
from yunbao.org.models import Role
from yunbao.web import demo
from yunbao.workorders.models import OPEN_STATUSES, Status, WorkOrder
from yunbao.workorders.tests.test_invariants import check_invariants


@pytest.mark.django_db
def test_it_loads_once_with_every_role_and_consistent_orders() -> None:
    lines: list[str] = []
    first = demo.load(orders=120, progress=lines.append)
    assert first.orders == 120
    assert Area.objects.filter(level=Level.GRID).count() > 10_000
    jianggao = Area.objects.get(code="440111003")
    assert Area.objects.filter(level=Level.GRID, path__startswith=jianggao.path).count() == 10_000
    assert Area.objects.get(code=demo.DISTRICT_CODE).jurisdiction_id == "demo.yunbao.org"
    usernames = set(
        demo.User.objects.filter(username__startswith="demo-").values_list("username", flat=True)
    )
    assert {f"demo-{role}" for role in Role.values} <= usernames
    # 唐阁村 is where the pilot ran; a point in it is located there.
    tangge = Area.objects.get(name="唐阁村")
    assert locate(tangge.center_lat, tangge.center_lon).community == tangge
    statuses = set(WorkOrder.objects.values_list("status", flat=True))
    assert Status.CLOSED in statuses
    assert statuses & set(OPEN_STATUSES)  # some still being worked on
    for order in WorkOrder.objects.all():
        check_invariants(order)
    again = demo.load(orders=120, progress=lines.append)
    assert (again.areas, again.users, again.orders) == (0, 0, 0)
    assert WorkOrder.objects.count() == 120


@pytest.mark.django_db
def test_it_routes_every_category_somewhere() -> None:
    from yunbao.catalog.models import Category
    from yunbao.dispatch.routing import route

    demo.load(orders=0, progress=lambda line: None)
    grid = Area.objects.filter(
        level=Level.GRID, path__startswith=Area.objects.get(code="440111003").path
    ).first()
    assert grid is not None
    for category in Category.objects.filter(active=True):
        assert route(category, grid).unit is not None, category.code
