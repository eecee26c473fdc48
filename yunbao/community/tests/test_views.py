"""The community pages: who may open what, bad input, privacy, escaping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from yunbao.community import actions
from yunbao.community.models import Activity, ActivityStatus, SignUp

from .conftest import make_activity

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _organiser_urls(activity: Activity) -> list[str]:
    a = activity.pk
    return [
        reverse("community:manage", args=[a]),
        reverse("community:manage-edit", args=[a]),
        reverse("community:poster", args=[a, "share"]),
        reverse("community:poster", args=[a, "checkin"]),
        reverse("community:poster-png", args=[a, "checkin"]),
        reverse("community:poster-qr", args=[a, "share"]),
    ]


def test_organiser_pages_access(world, organisers):
    activity = make_activity(world, organisers["one"])
    general = [reverse("community:manage-list"), reverse("community:manage-new")]
    for url in general + _organiser_urls(activity):
        response = _client().get(url)
        assert response.status_code == 302, url
        assert "/login" in response["Location"]
        for name in ("erin", "bob", "alice", "carol", "fay"):  # residents and other staff
            assert _client(world.users[name]).get(url).status_code == 403, (name, url)
    for url in _organiser_urls(activity):
        assert _client(organisers["two"]).get(url).status_code == 404, url  # another area
        assert _client(world.users["oscar"]).get(url).status_code == 404, url  # no area
        for name in ("dave", "ada"):
            assert _client(world.users[name]).get(url).status_code == 200, (name, url)
        assert _client(organisers["one"]).get(url).status_code == 200, url
    for url in general:
        assert _client(organisers["two"]).get(url).status_code == 200
    listing = _client(organisers["two"]).get(reverse("community:manage-list")).content.decode()
    assert activity.title not in listing


def test_organiser_actions_access(world, organisers):
    activity = make_activity(world, organisers["one"], publish=False)
    url = reverse("community:manage-action", args=[activity.pk, "publish"])
    assert _client().post(url).status_code == 302
    assert _client(world.users["erin"]).post(url).status_code == 403
    assert _client(organisers["two"]).post(url).status_code == 404
    assert _client(organisers["one"]).get(url).status_code == 405
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.DRAFT
    assert _client(organisers["one"]).post(url).status_code == 302
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PUBLISHED
    unknown = reverse("community:manage-action", args=[activity.pk, "explode"])
    assert _client(organisers["one"]).post(unknown).status_code == 404


def test_create_an_activity_through_the_form(world, organisers):
    client = _client(organisers["one"])
    start = timezone.localtime() + timedelta(days=2)
    form = {
        "title": HOSTILE,
        "kind": "haircut",
        "area": world.grid1.parent.code,
        "place": "活动中心",
        "lat": "23.0005",
        "lon": "113.0005",
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "capacity": "15",
        "checkin_radius_m": "0",
        "description": "<img src=x onerror=alert(1)>",
    }
    response = client.post(reverse("community:manage-new"), form)
    assert response.status_code == 302
    activity = Activity.objects.get()
    assert activity.organiser == organisers["one"]
    assert activity.status == ActivityStatus.DRAFT
    page = client.get(response["Location"]).content.decode()
    assert HOSTILE not in page
    assert "&lt;script&gt;" in page
    # Bad input: the end before the start, another street's village, a capacity of zero.
    for change in (
        {"ends_at": (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")},
        {"area": world.grid2.parent.code},
        {"capacity": "0"},
        {"lat": "north"},
    ):
        bad = client.post(reverse("community:manage-new"), {**form, **change})
        assert bad.status_code == 200
        assert Activity.objects.count() == 1


def test_public_pages_hide_drafts_and_contacts(world, organisers):
    draft = make_activity(world, organisers["one"], publish=False, title="草稿")
    activity = make_activity(world, organisers["one"], title=HOSTILE)
    anonymous = _client()
    assert anonymous.get(reverse("community:activity", args=[draft.pk])).status_code == 404
    assert anonymous.get(reverse("community:ics", args=[draft.pk])).status_code == 404
    calendar = anonymous.get(reverse("community:calendar")).content.decode()
    assert "草稿" not in calendar
    assert HOSTILE not in calendar
    assert "&lt;script&gt;" in calendar
    response = anonymous.post(
        reverse("community:sign-up", args=[activity.pk]),
        {"nickname": HOSTILE, "phone": "13912345678"},
    )
    assert response.status_code == 302
    signup = SignUp.objects.get()
    assert signup.participant.device  # the phone got a device token cookie
    page = anonymous.get(reverse("community:activity", args=[activity.pk])).content.decode()
    assert "13912345678" not in page
    assert HOSTILE not in page
    assert "You are signed up" in page or "您已报名" in page
    organiser_page = _client(organisers["one"]).get(reverse("community:manage", args=[activity.pk]))
    assert "13912345678" in organiser_page.content.decode()
    assert HOSTILE not in organiser_page.content.decode()
    # Another phone sees no sign-up of this one.
    other = _client().get(reverse("community:activity", args=[activity.pk])).content.decode()
    assert "13912345678" not in other


def test_sign_up_twice_and_bad_input_through_the_page(world, organisers):
    activity = make_activity(world, organisers["one"], capacity=1)
    client = _client()
    url = reverse("community:sign-up", args=[activity.pk])
    response = client.post(url, {"nickname": ""}, follow=True)
    assert SignUp.objects.count() == 0
    assert response.status_code == 200
    client.post(url, {"nickname": "小李"})
    again = client.post(url, {"nickname": "小李"}, follow=True).content.decode()
    assert SignUp.objects.count() == 1
    assert "already" in again or "已经报名" in again
    full = _client().post(url, {"nickname": "小张"}, follow=True).content.decode()
    assert SignUp.objects.count() == 1
    assert "full" in full or "名额已满" in full
    assert client.get(reverse("community:ics", args=[activity.pk])).status_code == 200
    assert client.get(url).status_code == 405


def test_check_in_page(world, organisers):
    activity = make_activity(world, organisers["one"], starts=timezone.now())
    token = actions.checkin_token(activity)
    url = reverse("community:check-in", args=[token])
    client = _client()
    assert client.get(url).status_code == 200
    client.post(url, {"action": "out"})
    assert not SignUp.objects.exists()  # checking out without a check-in: refused
    client.post(url, {"action": "in", "nickname": "扫码人"})
    signup = SignUp.objects.get()
    assert signup.checked_in_at is not None
    client.post(url, {"action": "out"})
    signup.refresh_from_db()
    assert signup.checked_out_at is not None
    forged = reverse("community:check-in", args=[token[:-3] + "abc"])
    assert client.get(forged).status_code == 400
    assert client.post(forged, {"action": "in"}).status_code == 400


def test_check_in_page_outside_the_window(world, organisers):
    activity = make_activity(world, organisers["one"], starts=timezone.now() + timedelta(days=1))
    url = reverse("community:check-in", args=[actions.checkin_token(activity)])
    client = _client()
    client.post(url, {"action": "in", "nickname": "早到"})
    assert not SignUp.objects.exists()
    draft = make_activity(world, organisers["one"], publish=False)
    assert (
        client.get(reverse("community:check-in", args=[actions.checkin_token(draft)])).status_code
        == 404
    )


def test_my_points_and_leaderboard_are_public_but_personal(world, organisers):
    activity = make_activity(world, organisers["one"], starts=timezone.now() - timedelta(hours=1))
    client = _client()
    url = reverse("community:check-in", args=[actions.checkin_token(activity)])
    client.post(url, {"action": "in", "nickname": "积分王"})
    SignUp.objects.update(checked_in_at=activity.starts_at)
    client.post(url, {"action": "out"})
    mine = client.get(reverse("community:me")).content.decode()
    assert 'id="my-total">5<' in mine  # one hour × 5 points
    assert 'id="my-total">0<' in _client().get(reverse("community:me")).content.decode()
    board = (
        _client()
        .get(reverse("community:leaderboard"), {"village": world.grid1.parent.code})
        .content.decode()
    )
    assert "积分王" in board
    assert _client().get(reverse("community:leaderboard"), {"village": "nope"}).status_code == 404
    assert _client().get(reverse("community:calendar"), {"village": "nope"}).status_code == 404


def test_the_operations_centre_shows_the_community_panel(world, organisers):
    start = timezone.now() - timedelta(days=2)
    activity = make_activity(world, organisers["one"], starts=start, title="五月清洁")
    actions.self_check_in(
        activity, actor=None, device="aaaa-aaaaaaaaaaaaaaaa", nickname="a", at=start
    )
    actions.close(activity, actor=organisers["one"], summary="ok")
    page = _client(world.users["dave"]).get(reverse("insight:dashboard")).content.decode()
    assert 'id="community"' in page
    assert "五月清洁" in page
    # A dispatcher of street two sees street two's figures: not this activity.
    other = _client(world.users["olga"]).get(reverse("insight:dashboard")).content.decode()
    assert 'id="community"' in other
    assert "五月清洁" not in other


def test_home_page_links(world, organisers):
    organiser_home = _client(organisers["one"]).get(reverse("home")).content.decode()
    assert reverse("community:manage-list") in organiser_home
    resident_home = _client(world.users["erin"]).get(reverse("home")).content.decode()
    assert reverse("community:manage-list") not in resident_home
    assert reverse("community:calendar") in resident_home
    assert reverse("community:me") in resident_home


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buffer, "JPEG")
    return buffer.getvalue()


def test_photos_and_cover_go_through_the_photo_pipeline(world, organisers, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    activity = make_activity(world, organisers["one"])
    client = _client(organisers["one"])
    url = reverse("community:manage-action", args=[activity.pk, "photo"])
    client.post(url, {"photo": SimpleUploadedFile("a.jpg", _jpeg(), "image/jpeg")})
    assert activity.photos.count() == 1
    refused = client.post(
        url, {"photo": SimpleUploadedFile("x.jpg", b"not an image", "image/jpeg")}, follow=True
    )
    assert activity.photos.count() == 1
    assert refused.status_code == 200
    assert client.post(url).status_code == 302  # no file: a message, nothing stored
    assert activity.photos.count() == 1
    assert _client(organisers["two"]).post(url).status_code == 404
    actions.set_cover(activity, _jpeg(), name="c.jpg", actor=organisers["one"])
    activity.refresh_from_db()
    assert str(activity.cover.name).startswith("community/covers/")
    with pytest.raises(actions.CommunityError):
        actions.set_cover(activity, b"junk", name="c.jpg", actor=organisers["one"])


def test_admin_edits_rules_and_levels_and_shows_the_rest(world, organisers):
    from yunbao.community.models import PointRule

    make_activity(world, organisers["one"])
    admin = _client(world.users["ada"])
    for model in ("pointrule", "level", "activity", "signup", "pointentry"):
        assert admin.get(f"/admin/community/{model}/").status_code == 200, model
    assert admin.get("/admin/community/activity/add/").status_code == 403
    rule = PointRule.objects.get(kind="report")
    response = admin.post(
        f"/admin/community/pointrule/{rule.pk}/change/",
        {"kind": "report", "points": "7", "daily_cap": "21", "active": "on"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.points, rule.daily_cap) == (7, 21)
