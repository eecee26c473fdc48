"""Points: valid reports and confirmed "me too"s from the timeline, caps, levels, boards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from yunbao.community import actions, points
from yunbao.community.models import Participant, PointEntry, PointKind, PointRule
from yunbao.community.points import leaderboard, participant_for, standing, sync_points
from yunbao.workorders import actions as moves
from yunbao.workorders.models import Source

from .conftest import accept, make_activity, me_too, report

pytestmark = pytest.mark.django_db

PHONE = "phone-aaaaaaaaaaaaaaaa"


def _total(device: str = PHONE) -> int:
    participant = Participant.objects.filter(device=device).first()
    return points.total(participant) if participant else 0


def test_an_accepted_report_earns_the_rule_once(world):
    order = report(world, device=PHONE)
    sync_points()
    assert _total() == 0  # not accepted yet: nothing
    accept(world, order)
    assert sync_points().reports == 1
    assert _total() == 10
    assert sync_points(since=timezone.now() - timedelta(days=1)).reports == 0  # again: nothing
    entry = PointEntry.objects.get()
    assert (entry.kind, entry.order, entry.area) == (PointKind.REPORT, order, world.grid1.parent)


def test_rejected_and_duplicate_reports_earn_nothing(world):
    original = accept(world, report(world, device="someone-else-aaaaaa"))
    rejected = report(world, device=PHONE)
    moves.reject(rejected, actor=world.users["alice"], note="不属于城市管理")
    duplicate = report(world, device=PHONE)
    moves.merge(duplicate, actor=world.users["alice"], into=original)
    sync_points()
    assert _total() == 0
    assert _total("someone-else-aaaaaa") == 10


def test_a_voided_order_loses_its_points(world):
    order = accept(world, report(world, device=PHONE))
    sync_points()
    assert _total() == 10
    moves.transition(order, "void", actor=world.users["dave"], note="误报")
    assert sync_points().revoked == 1
    assert _total() == 0


def test_staff_reports_earn_nothing(world):
    accept(world, report(world, device=PHONE, source=Source.INSPECTOR))
    sync_points()
    assert _total() == 0


def test_daily_cap_holds_and_resets_the_next_day(world):
    PointRule.objects.filter(kind=PointKind.REPORT).update(points=10, daily_cap=25)
    day1 = timezone.now() - timedelta(days=1)
    for minute in range(4):
        accept(world, report(world, device=PHONE, at=day1 + timedelta(minutes=minute)))
    sync_points()
    assert _total() == 25  # 10 + 10 + 5, then the cap
    assert sorted(PointEntry.objects.values_list("points", "capped")) == [
        (0, True),
        (5, True),
        (10, False),
        (10, False),
    ]
    accept(world, report(world, device=PHONE))  # today
    sync_points()
    assert _total() == 35


def test_the_cap_holds_over_several_runs(world):
    PointRule.objects.filter(kind=PointKind.REPORT).update(points=10, daily_cap=20)
    for _ in range(3):
        accept(world, report(world, device=PHONE))
        sync_points()
    assert _total() == 20


def test_rules_are_configurable_and_can_be_switched_off(world):
    rule = PointRule.objects.get(kind=PointKind.REPORT)
    rule.points = 3
    actions.save_point_rule(rule, actor=world.users["ada"])
    accept(world, report(world, device=PHONE))
    sync_points()
    assert _total() == 3
    PointRule.objects.filter(kind=PointKind.REPORT).update(active=False)
    accept(world, report(world, device=PHONE))
    sync_points()
    assert _total() == 3


def test_me_too_counts_once_the_order_is_accepted(world):
    order = report(world, device="reporter-aaaaaaaaaaa")
    confirmation = me_too(order, device=PHONE)
    sync_points()
    assert _total() == 0
    accept(world, order)
    sync_points()
    assert _total() == 2
    # A "me too" of a rejected order earns nothing.
    other = report(world, device="reporter-aaaaaaaaaaa", point=world.point2())
    me_too(other, device=PHONE)
    moves.reject(other, actor=world.users["olga"], note="no")
    sync_points()
    assert _total() == 2
    assert PointEntry.objects.get(kind=PointKind.ME_TOO).key == f"me_too:{confirmation.pk}"


def test_me_too_cap(world):
    PointRule.objects.filter(kind=PointKind.ME_TOO).update(points=2, daily_cap=4)
    for _ in range(3):
        order = accept(world, report(world, device="reporter-aaaaaaaaaaa"))
        me_too(order, device=PHONE)
    sync_points()
    assert _total() == 4


def test_a_volunteer_and_their_reports_are_one_participant(world, organisers):
    activity = make_activity(world, organisers["one"])
    signup = actions.sign_up(activity, actor=None, device=PHONE, nickname="阿芳")
    accept(world, report(world, device=PHONE))
    sync_points()
    assert points.total(signup.participant) == 10


def test_an_account_takes_over_its_phone(world):
    participant = participant_for(device=PHONE)
    assert participant_for(user=world.users["erin"], device=PHONE) == participant
    participant.refresh_from_db()
    assert participant.user == world.users["erin"]
    accept(world, report(world, user=world.users["erin"]))
    sync_points()
    assert points.total(participant) == 10


def test_levels():
    first = standing(0).level
    assert first is not None
    assert first.min_points == 0
    s = standing(60)
    assert s.level is not None
    assert s.next_level is not None
    assert (s.level.min_points, s.next_level.min_points, s.to_next) == (50, 200, 140)
    assert standing(5000).next_level is None


def test_leaderboard_per_village_shows_nicknames_only(world):
    a = participant_for(device="aaaa-aaaaaaaaaaaaaaaa")
    a.nickname, a.phone = "<b>阿明</b>", "13900000000"
    a.save()
    for _ in range(2):
        accept(world, report(world, device="aaaa-aaaaaaaaaaaaaaaa"))
    accept(world, report(world, device="bbbb-bbbbbbbbbbbbbbbb"))
    accept(world, report(world, device="cccc-cccccccccccccccc", point=world.point2()))
    sync_points()
    board = leaderboard(world.grid1.parent)
    assert [(r.position, r.points) for r in board] == [(1, 20), (2, 10)]
    assert board[0].name == "<b>阿明</b>"
    assert board[1].name.startswith("居民") or board[1].name.startswith("Resident")
    assert [r.points for r in leaderboard(world.grid2.parent)] == [10]


def test_the_job_is_scheduled_and_the_task_and_command_run(world):
    from django.core.management import call_command

    from yunbao.community.tasks import points_task
    from yunbao.jobs.schedule import SCHEDULE

    job = SCHEDULE["community-points"]
    assert job.task_path == "yunbao.community.tasks.points_task"
    assert job.every == timedelta(minutes=5)
    accept(world, report(world, device=PHONE))
    result = points_task.enqueue()  # the immediate backend in tests
    assert result.return_value == {"reports": 1, "me_toos": 0, "revoked": 0}
    assert _total() == 10
    call_command("community_points", since="2000-01-01T00:00:00+00:00")
    assert _total() == 10  # again: nothing new
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("community_points", since="yesterday")
