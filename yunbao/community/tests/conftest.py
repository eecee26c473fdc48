"""Fixtures of the community tests: organisers of each street, activities, reports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from yunbao.community import actions
from yunbao.community.models import Activity, ActivityKind
from yunbao.intake.models import MeToo, Submission
from yunbao.org.actions import create_staff
from yunbao.org.models import Role
from yunbao.testing import World
from yunbao.workorders import actions as moves
from yunbao.workorders.models import Source, WorkOrder

_counter = {"n": 0}


@pytest.fixture
def organisers(world: World) -> dict[str, Any]:
    """`one` organises in street one, `two` in street two."""
    return {
        "one": create_staff(
            username="ora", password="pw-ora", roles=[Role.ORGANISER], areas=[world.street1]
        ),
        "two": create_staff(
            username="orb", password="pw-orb", roles=[Role.ORGANISER], areas=[world.street2]
        ),
    }


def make_activity(
    world: World,
    organiser: Any,
    *,
    starts: datetime | None = None,
    hours: float = 2,
    capacity: int = 10,
    radius: int = 0,
    publish: bool = True,
    title: str = "清洁家园",
    area: Any = None,
) -> Activity:
    starts = starts or timezone.now() + timedelta(hours=1)
    area = area or world.grid1.parent
    lat, lon = world.point1() if area.path.startswith(world.street1.path) else world.point2()
    activity = actions.create_activity(
        actions.ActivityInput(
            title=title,
            kind=ActivityKind.CLEANUP,
            area=area,
            place="村口广场",
            lat=lat,
            lon=lon,
            starts_at=starts,
            ends_at=starts + timedelta(hours=hours),
            capacity=capacity,
            checkin_radius_m=radius,
        ),
        actor=organiser,
    )
    if publish:
        activity = actions.publish(activity, actor=organiser)
    return activity


def report(
    world: World,
    *,
    device: str = "",
    user: Any = None,
    at: datetime | None = None,
    source: str = Source.RESIDENT,
    point: tuple[float, float] | None = None,
) -> WorkOrder:
    """An order with its intake submission, as the report page leaves them."""
    _counter["n"] += 1
    at = at or timezone.now()
    lat, lon = point or world.point1()
    order = moves.submit(
        actor=user,
        lat=lat,
        lon=lon,
        description=f"垃圾 {_counter['n']}",
        category=world.category,
        source=source,
        at=at,
    )
    submission = Submission.objects.create(
        key=f"k{_counter['n']}-{order.pk}",
        digest="d",
        device=device,
        user=user,
        order=order,
        tracking_token=f"t{_counter['n']}-{order.pk}",
    )
    Submission.objects.filter(pk=submission.pk).update(created_at=at)
    return order


def accept(world: World, order: WorkOrder, *, at: datetime | None = None) -> WorkOrder:
    desk = "alice" if order.area_path.startswith(world.street1.path) else "olga"
    moves.accept(order, actor=world.users[desk], at=at)
    order.refresh_from_db()
    return order


def me_too(order: WorkOrder, *, device: str, at: datetime | None = None) -> MeToo:
    confirmation = MeToo.objects.create(order=order, device=device)
    if at is not None:
        MeToo.objects.filter(pk=confirmation.pk).update(created_at=at)
        confirmation.refresh_from_db()
    return confirmation
