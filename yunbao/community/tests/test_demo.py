"""The demo activities load once, with held and coming activities."""

from __future__ import annotations

import pytest

from yunbao.community.demo import PLAN, load_community
from yunbao.community.models import Activity, ActivityStatus, PointEntry, SignUp

pytestmark = pytest.mark.django_db


def test_demo_activities_load_once(world, organisers):
    people = {"organiser": organisers["one"]}
    assert load_community(people, progress=lambda _line: None) == len(PLAN)
    closed = Activity.objects.filter(status=ActivityStatus.CLOSED)
    assert closed.count() == sum(1 for p in PLAN if p[0] < 0)
    assert SignUp.objects.filter(activity__in=closed, hours__gt=0).exists()
    assert PointEntry.objects.filter(kind="volunteer").exists()
    assert Activity.objects.upcoming().count() == sum(1 for p in PLAN if p[0] > 0)
    assert all(a.area.path.startswith(world.street1.path) for a in Activity.objects.all())
    assert load_community(people, progress=lambda _line: None) == 0
    assert Activity.objects.count() == len(PLAN)
