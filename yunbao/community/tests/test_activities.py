"""Activities: sign-up limits, check-in and check-out rules, service hours."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.utils import timezone

from yunbao.community import actions
from yunbao.community.actions import CommunityError
from yunbao.community.models import (
    ActivityStatus,
    Participant,
    PointEntry,
    PointKind,
    SignUp,
    SignUpStatus,
)

from .conftest import make_activity

pytestmark = pytest.mark.django_db


def _sign(activity, device, nickname="小王", **kw):
    return actions.sign_up(activity, actor=None, device=device, nickname=nickname, **kw)


def test_sign_up_without_account_keeps_nickname_and_phone(world, organisers):
    activity = make_activity(world, organisers["one"])
    signup = _sign(activity, "dev-aaaaaaaaaaaaaaaa", phone="13800138000")
    participant = signup.participant
    assert participant.user is None
    assert participant.device == "dev-aaaaaaaaaaaaaaaa"
    assert (participant.nickname, participant.phone) == ("小王", "13800138000")


def test_double_sign_up_is_refused(world, organisers):
    activity = make_activity(world, organisers["one"])
    _sign(activity, "dev-aaaaaaaaaaaaaaaa")
    with pytest.raises(CommunityError) as error:
        _sign(activity, "dev-aaaaaaaaaaaaaaaa")
    assert error.value.code == "twice"
    assert SignUp.objects.filter(activity=activity).count() == 1


def test_account_signs_up_once_whatever_the_phone(world, organisers):
    activity = make_activity(world, organisers["one"])
    erin = world.users["erin"]
    actions.sign_up(activity, actor=erin, device="phone-one-aaaaaaaaaa", nickname="E")
    with pytest.raises(CommunityError):
        actions.sign_up(activity, actor=erin, device="phone-two-bbbbbbbbbb", nickname="E")
    assert Participant.objects.filter(user=erin).count() == 1


def test_capacity_holds(world, organisers):
    activity = make_activity(world, organisers["one"], capacity=2)
    _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    _sign(activity, "dev-2aaaaaaaaaaaaaaa")
    with pytest.raises(CommunityError) as error:
        _sign(activity, "dev-3aaaaaaaaaaaaaaa")
    assert error.value.code == "full"
    assert activity.signups.filter(status=SignUpStatus.SIGNED_UP).count() == 2


def test_a_cancelled_place_is_free_again(world, organisers):
    activity = make_activity(world, organisers["one"], capacity=1)
    first = _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    actions.cancel_sign_up(first, actor=None)
    _sign(activity, "dev-2aaaaaaaaaaaaaaa")
    with pytest.raises(CommunityError):
        _sign(activity, "dev-1aaaaaaaaaaaaaaa")  # back again, but the place is taken


def test_drafts_and_finished_activities_take_no_sign_ups(world, organisers):
    draft = make_activity(world, organisers["one"], publish=False)
    with pytest.raises(CommunityError) as error:
        _sign(draft, "dev-1aaaaaaaaaaaaaaa")
    assert error.value.code == "closed"
    past = make_activity(world, organisers["one"], starts=timezone.now() - timedelta(hours=5))
    with pytest.raises(CommunityError):
        _sign(past, "dev-1aaaaaaaaaaaaaaa")


@pytest.mark.parametrize(
    ("nickname", "phone", "field"),
    [("", "", "nickname"), ("x" * 33, "", "nickname"), ("ok", "call me", "phone")],
)
def test_bad_contact_is_refused(world, organisers, nickname, phone, field):
    activity = make_activity(world, organisers["one"])
    with pytest.raises(CommunityError) as error:
        _sign(activity, "dev-1aaaaaaaaaaaaaaa", nickname=nickname, phone=phone)
    assert error.value.field == field
    assert not SignUp.objects.exists()


def test_sign_up_needs_an_account_or_a_device(world, organisers):
    activity = make_activity(world, organisers["one"])
    with pytest.raises(CommunityError):
        actions.sign_up(activity, actor=None, device="", nickname="x")


def test_activity_times_and_capacity_are_checked(world, organisers):
    now = timezone.now()
    base = dict(
        title="t",
        kind="cleanup",
        area=world.grid1.parent,
        place="p",
        lat=23.0,
        lon=113.0,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        capacity=5,
    )
    for change in (
        {"ends_at": now},
        {"ends_at": now + timedelta(hours=25)},
        {"capacity": 0},
        {"title": " "},
        {"kind": "party"},
        {"lat": 91.0},
    ):
        with pytest.raises(CommunityError):
            actions.create_activity(
                actions.ActivityInput(**{**base, **change}), actor=organisers["one"]
            )


def test_capacity_cannot_drop_below_sign_ups(world, organisers):
    activity = make_activity(world, organisers["one"], capacity=3)
    _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    _sign(activity, "dev-2aaaaaaaaaaaaaaa")
    data = actions.ActivityInput(
        title=activity.title,
        kind=activity.kind,
        area=activity.area,
        place=activity.place,
        lat=activity.lat,
        lon=activity.lon,
        starts_at=activity.starts_at,
        ends_at=activity.ends_at,
        capacity=1,
    )
    with pytest.raises(CommunityError):
        actions.update_activity(activity, data, actor=organisers["one"])


# --- Check-in -----------------------------------------------------------------------------


def test_token_round_trip_and_forgery(world, organisers):
    activity = make_activity(world, organisers["one"])
    token = actions.checkin_token(activity)
    assert actions.activity_of_token(token) == activity
    forged = signing.dumps({"a": activity.pk, "k": activity.checkin_key}, salt="other")
    for bad in (forged, token[:-2] + "xx", "nonsense", ""):
        with pytest.raises(CommunityError) as error:
            actions.activity_of_token(bad)
        assert error.value.code == "token"


def test_a_replaced_code_stops_working(world, organisers):
    activity = make_activity(world, organisers["one"])
    old = actions.checkin_token(activity)
    actions.new_checkin_code(activity, actor=organisers["one"])
    with pytest.raises(CommunityError):
        actions.activity_of_token(old)
    assert actions.activity_of_token(actions.checkin_token(activity)) == activity


def test_check_in_only_in_the_time_window(world, organisers):
    start = timezone.now() + timedelta(hours=3)
    activity = make_activity(world, organisers["one"], starts=start)
    _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    with pytest.raises(CommunityError) as early:
        actions.self_check_in(
            activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", at=start - timedelta(minutes=31)
        )
    assert early.value.code == "early"
    with pytest.raises(CommunityError) as late:
        actions.self_check_in(
            activity,
            actor=None,
            device="dev-1aaaaaaaaaaaaaaa",
            at=activity.ends_at + timedelta(minutes=31),
        )
    assert late.value.code == "late"
    signup = actions.self_check_in(
        activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", at=start - timedelta(minutes=29)
    )
    assert signup.checked_in_at == start - timedelta(minutes=29)


def test_check_in_near_the_place_only(world, organisers):
    start = timezone.now()
    activity = make_activity(world, organisers["one"], starts=start, radius=100)
    lat, lon = world.point1()
    _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    with pytest.raises(CommunityError) as missing:
        actions.self_check_in(activity, actor=None, device="dev-1aaaaaaaaaaaaaaa")
    assert missing.value.code == "no_position"
    with pytest.raises(CommunityError) as far:
        actions.self_check_in(
            activity,
            actor=None,
            device="dev-1aaaaaaaaaaaaaaa",
            lat=lat + 0.01,
            lon=lon,
            accuracy=20,
        )
    assert far.value.code == "far"
    with pytest.raises(CommunityError) as rough:
        actions.self_check_in(
            activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", lat=lat, lon=lon, accuracy=2000
        )
    assert rough.value.code == "accuracy"
    assert not SignUp.objects.filter(checked_in_at__isnull=False).exists()
    actions.self_check_in(
        activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", lat=lat + 0.0005, lon=lon, accuracy=15
    )
    assert SignUp.objects.get().checked_in_at is not None


def test_no_check_in_on_a_draft_or_cancelled_activity(world, organisers):
    activity = make_activity(world, organisers["one"], starts=timezone.now())
    actions.cancel(activity, actor=organisers["one"])
    activity.refresh_from_db()
    with pytest.raises(CommunityError):
        actions.self_check_in(activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", nickname="x")


def test_walk_in_signs_up_on_the_spot_within_capacity(world, organisers):
    activity = make_activity(world, organisers["one"], starts=timezone.now(), capacity=1)
    signup = actions.self_check_in(
        activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", nickname="路人"
    )
    assert signup.participant.nickname == "路人"
    assert signup.checked_in_at
    with pytest.raises(CommunityError) as full:
        actions.self_check_in(
            activity, actor=None, device="dev-2aaaaaaaaaaaaaaa", nickname="又一个"
        )
    assert full.value.code == "full"
    with pytest.raises(CommunityError) as twice:
        actions.self_check_in(activity, actor=None, device="dev-1aaaaaaaaaaaaaaa")
    assert twice.value.code == "twice"


def test_check_out_without_check_in_is_refused(world, organisers):
    activity = make_activity(world, organisers["one"], starts=timezone.now())
    signup = _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    with pytest.raises(CommunityError) as error:
        actions.self_check_out(activity, actor=None, device="dev-1aaaaaaaaaaaaaaa")
    assert error.value.code == "not_in"
    with pytest.raises(CommunityError):
        actions.self_check_out(activity, actor=None, device="never-seen-aaaaaaaaa")
    with pytest.raises(CommunityError):
        actions.organiser_check_out(signup, actor=organisers["one"])
    signup.refresh_from_db()
    assert signup.checked_out_at is None
    assert signup.hours == 0


def test_hours_count_within_the_event_in_quarters(world, organisers):
    start = timezone.now() - timedelta(hours=1)
    activity = make_activity(world, organisers["one"], starts=start, hours=2)
    _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    device = "dev-1aaaaaaaaaaaaaaa"
    # In 20 minutes before the start (not counted), out 1 h 40 min after it: 1.5 h.
    actions.self_check_in(activity, actor=None, device=device, at=start - timedelta(minutes=20))
    signup = actions.self_check_out(
        activity, actor=None, device=device, at=start + timedelta(minutes=100)
    )
    assert signup.hours == Decimal("1.50")
    with pytest.raises(CommunityError) as twice:
        actions.self_check_out(
            activity, actor=None, device=device, at=start + timedelta(minutes=110)
        )
    assert twice.value.code == "twice_out"
    entry = PointEntry.objects.get(kind=PointKind.VOLUNTEER)
    assert entry.points == 7  # 1.5 h × 5 points, rounded down
    assert entry.area == activity.area


def test_hours_stop_at_the_end(world, organisers):
    start = timezone.now() - timedelta(hours=2)
    activity = make_activity(world, organisers["one"], starts=start, hours=1)
    actions.self_check_in(
        activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", nickname="x", at=start
    )
    out = actions.self_check_out(
        activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", at=start + timedelta(minutes=85)
    )
    assert out.hours == Decimal("1.00")


def test_organiser_checks_in_out_and_corrects_hours(world, organisers):
    start = timezone.now() - timedelta(minutes=10)
    activity = make_activity(world, organisers["one"], starts=start, hours=3)
    signup = _sign(activity, "dev-1aaaaaaaaaaaaaaa")
    signup = actions.organiser_check_in(signup, actor=organisers["one"], at=start)
    assert signup.checked_in_by == organisers["one"]
    signup = actions.organiser_check_out(
        signup, actor=organisers["one"], at=start + timedelta(hours=1)
    )
    assert signup.hours == Decimal("1.00")
    with pytest.raises(CommunityError):
        actions.set_hours(signup, Decimal("3.5"), actor=organisers["one"])
    with pytest.raises(CommunityError):
        actions.set_hours(signup, Decimal("-1"), actor=organisers["one"])
    signup = actions.set_hours(signup, Decimal("2.5"), actor=organisers["one"])
    assert PointEntry.objects.get(kind=PointKind.VOLUNTEER).points == 12


def test_close_needs_a_summary_and_checks_everyone_out(world, organisers):
    start = timezone.now() - timedelta(hours=3)
    activity = make_activity(world, organisers["one"], starts=start, hours=2)
    actions.self_check_in(
        activity, actor=None, device="dev-1aaaaaaaaaaaaaaa", nickname="x", at=start
    )
    with pytest.raises(CommunityError):
        actions.close(activity, actor=organisers["one"], summary="  ")
    closed = actions.close(activity, actor=organisers["one"], summary="清理了 30 袋垃圾")
    assert closed.status == ActivityStatus.CLOSED
    signup = SignUp.objects.get()
    assert signup.checked_out_at == activity.ends_at
    assert signup.hours == Decimal("2.00")
    with pytest.raises(CommunityError):
        actions.close(closed, actor=organisers["one"], summary="again")


def test_publish_only_a_draft(world, organisers):
    activity = make_activity(world, organisers["one"])
    with pytest.raises(CommunityError):
        actions.publish(activity, actor=organisers["one"])


def test_organisers_create_only_in_their_areas(world, organisers):
    with pytest.raises(actions.NotAllowed):
        make_activity(world, organisers["two"])  # street one's village
    with pytest.raises(actions.NotAllowed):
        make_activity(world, world.users["erin"])  # a resident
    with pytest.raises(actions.NotAllowed):
        make_activity(world, world.users["oscar"])  # an organiser without any area
    assert make_activity(world, world.users["dave"]).area == world.grid1.parent  # district manager
