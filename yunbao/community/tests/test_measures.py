"""The new-reporter measure and the monthly figures, on a constructed history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from yunbao.community import actions
from yunbao.community.measures import activity_measure, dashboard_panel, monthly
from yunbao.community.models import Activity, SignUp
from yunbao.community.points import participant_for
from yunbao.workorders.models import Source

from .conftest import make_activity, report

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()


def _held(world, organiser, start: datetime, *, hours: float = 2, title: str = "清洁") -> Activity:
    """An activity that took place at `start`: created and published beforehand."""
    activity = make_activity(world, organiser, starts=start, hours=hours, capacity=50, title=title)
    return activity


def _attend(activity: Activity, device: str, *, user=None) -> None:
    actions.self_check_in(
        activity, actor=user, device=device, nickname=device[:6], at=activity.starts_at
    )
    actions.self_check_out(activity, actor=user, device=device, at=activity.ends_at)


def test_new_reporters_of_an_activity(world, organisers):
    start = timezone.now() - timedelta(days=50)
    activity = _held(world, organisers["one"], start)
    newcomer, veteran, slow, silent, absent = (
        "newcomer-aaaaaaaaaaa",
        "veteran-aaaaaaaaaaaa",
        "slow-aaaaaaaaaaaaaaa",
        "silent-aaaaaaaaaaaaa",
        "absent-aaaaaaaaaaaaa",
    )
    for device in (newcomer, veteran, slow, silent):
        _attend(activity, device)
    # The absent one signs up but never comes: a sign-up alone is not attendance.
    SignUp.objects.create(activity=activity, participant=participant_for(device=absent))
    report(world, device=veteran, at=start - timedelta(days=5))  # reported before: not new
    report(world, device=veteran, at=start + timedelta(days=1))
    for days in (3, 4, 20):  # first report 3 days after, then two more
        report(world, device=newcomer, at=start + timedelta(days=days))
    report(world, device=slow, at=start + timedelta(days=45))  # beyond 30 days
    report(world, device=absent, at=start + timedelta(days=2))  # never attended
    report(world, device="stranger-aaaaaaaaaaa", at=start + timedelta(days=2))

    measure = activity_measure(activity)
    assert (measure.attendees, measure.new_reporters, measure.their_reports) == (4, 1, 3)
    assert measure.conversion == 0.25
    wider = activity_measure(activity, days=60)
    assert (wider.new_reporters, wider.their_reports) == (2, 4)


def test_an_account_attendee_reporting_by_account_counts(world, organisers):
    start = timezone.now() - timedelta(days=10)
    activity = _held(world, organisers["one"], start)
    erin = world.users["erin"]
    _attend(activity, "erin-phone-aaaaaaaaa", user=erin)
    report(world, user=erin, at=start + timedelta(days=1))
    report(world, device="erin-phone-aaaaaaaaa", at=start + timedelta(days=2))
    measure = activity_measure(activity)
    assert (measure.new_reporters, measure.their_reports) == (1, 2)


def test_monthly_participation_and_who_reports(world, organisers):
    may = datetime(2026, 5, 10, 9, 0, tzinfo=TZ)
    june = datetime(2026, 6, 12, 9, 0, tzinfo=TZ)
    one = _held(world, organisers["one"], may, title="五月")
    two = _held(world, organisers["one"], june, title="六月")
    elsewhere = make_activity(
        world, organisers["two"], starts=june, capacity=5, area=world.grid2.parent
    )
    _attend(one, "aaaa-aaaaaaaaaaaaaaaa")
    _attend(one, "bbbb-bbbbbbbbbbbbbbbb")
    _attend(two, "aaaa-aaaaaaaaaaaaaaaa")  # the same person again: one attendee of June
    SignUp.objects.create(activity=two, participant=participant_for(device="ffff-ffffffffffffffff"))
    report(world, device="aaaa-aaaaaaaaaaaaaaaa", at=may + timedelta(days=2))  # new in May
    # Orders in street one in June: two residents, one resident page report by a staff
    # account (counts as staff), one inspector, one hotline.
    report(world, device="cccc-cccccccccccccccc", at=june + timedelta(days=1))
    report(world, device="dddd-dddddddddddddddd", at=june + timedelta(days=1))
    report(world, user=world.users["fay"], at=june + timedelta(days=1))
    report(world, user=world.users["fay"], source=Source.INSPECTOR, at=june + timedelta(days=2))
    report(world, source=Source.HOTLINE, at=june + timedelta(days=3))
    # Street two's order and activity are not street one's.
    report(world, device="eeee-eeeeeeeeeeeeeeee", point=world.point2(), at=june)
    assert elsewhere.area.path.startswith(world.street2.path)

    rows = monthly([world.street1.path], date(2026, 5, 1), date(2026, 6, 30))
    may_row, june_row = rows
    assert (may_row.month, june_row.month) == (date(2026, 5, 1), date(2026, 6, 1))
    assert (may_row.activities, may_row.attendees, may_row.new_reporters) == (1, 2, 1)
    assert may_row.resident_orders == 1
    assert may_row.staff_orders == 0
    assert (june_row.activities, june_row.attendees, june_row.new_reporters) == (1, 1, 0)
    assert (june_row.resident_orders, june_row.staff_orders, june_row.other_orders) == (2, 2, 1)
    assert june_row.resident_share == pytest.approx(0.4)
    everywhere = monthly([], date(2026, 6, 1), date(2026, 6, 30))[0]
    assert everywhere.activities == 2
    assert everywhere.resident_orders == 3


def test_dashboard_panel_follows_the_filter(world, organisers):
    start = timezone.now() - timedelta(days=3)
    activity = _held(world, organisers["one"], start)
    _attend(activity, "aaaa-aaaaaaaaaaaaaaaa")
    actions.close(activity, actor=organisers["one"], summary="好")
    report(world, device="aaaa-aaaaaaaaaaaaaaaa", at=start + timedelta(days=1))
    mine = dashboard_panel(SimpleNamespace(start=None, end=None, area_path=world.street1.path))
    assert len(mine["months"]) == 6
    assert [m.activity for m in mine["activities"]] == [activity]
    assert mine["activities"][0].new_reporters == 1
    other = dashboard_panel(
        SimpleNamespace(start=None, end=None, area_path="", paths=(world.street2.path,))
    )
    assert other["activities"] == []
    assert sum(m.resident_orders for m in other["months"]) == 0


def test_monthly_reads_a_fixed_number_of_queries(world, organisers, django_assert_num_queries):
    may = datetime(2026, 5, 3, 9, 0, tzinfo=TZ)
    for day in range(6):
        activity = _held(world, organisers["one"], may + timedelta(days=day), title=f"A{day}")
        _attend(activity, f"dev-{day:02d}-aaaaaaaaaaaaaa")
    # Activities, sign-ups, first reports by phone and by account, orders: whatever the
    # number of activities.
    with django_assert_num_queries(5):
        rows = monthly([world.street1.path], date(2026, 5, 1), date(2026, 5, 31))
    assert rows[0].activities == 6
    assert rows[0].attendees == 6
