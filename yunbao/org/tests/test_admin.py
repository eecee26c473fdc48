"""The organisation's admin pages, and supervisors limited to their own unit's rosters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from yunbao.org.actions import create_staff
from yunbao.org.models import Role, RosterException, Shift, StaffProfile
from yunbao.org.tests.conftest import Place

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_root(settings: Any, tmp_path: Any) -> None:
    # WhiteNoise warns (an error here) when STATIC_ROOT does not exist, as on a fresh checkout.
    settings.STATIC_ROOT = tmp_path


@pytest.mark.parametrize("name", ["unit", "staffprofile", "shift", "rosterexception"])
def test_it_lists_every_org_model(admin_client: Client, place: Place, name: str) -> None:
    wang = create_staff(username="wang", roles=[Role.WORKER], unit=place.unit)
    Shift.objects.create(user=wang, weekday=0, start=dt.time(22), end=dt.time(6))
    RosterException.objects.create(user=wang, date=dt.date(2025, 3, 3), kind="off")
    response = admin_client.get(reverse(f"admin:org_{name}_changelist"))
    assert response.status_code == 200
    assert ("甲街环卫" if name == "unit" else "wang") in response.content.decode()


def test_it_lists_users_with_unit_and_roles_filtered_by_group(
    admin_client: Client, place: Place
) -> None:
    create_staff(username="wang", roles=[Role.WORKER], unit=place.unit, display_name="王师傅")
    create_staff(username="li", roles=[Role.DISPATCHER])
    url = reverse("admin:auth_user_changelist")
    page = admin_client.get(url, headers={"accept-language": "en"}).content.decode()
    assert "王师傅" in page
    assert "甲街环卫" in page
    assert "Field worker" in page
    worker_group = Group.objects.get(name=Role.WORKER)
    page = admin_client.get(url, {"groups__id__exact": worker_group.pk}).content.decode()
    assert "wang" in page
    assert ">li<" not in page


def test_it_edits_a_user_with_the_profile_inline(admin_client: Client, place: Place) -> None:
    wang = create_staff(username="wang", roles=[Role.WORKER], unit=place.unit)
    response = admin_client.get(reverse("admin:auth_user_change", args=[wang.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="profile-0-unit"' in page
    assert 'name="groups"' in page


def test_a_supervisor_sees_and_assigns_only_their_units_rosters(place: Place) -> None:
    boss = create_staff(username="boss", password="pw", roles=[Role.SUPERVISOR], unit=place.unit)
    ours = create_staff(username="ours", roles=[Role.WORKER], unit=place.unit)
    theirs = create_staff(username="theirs", roles=[Role.WORKER], unit=place.other_unit)
    mine = Shift.objects.create(user=ours, weekday=0, start=dt.time(8), end=dt.time(17))
    other = Shift.objects.create(user=theirs, weekday=0, start=dt.time(8), end=dt.time(17))
    client = Client()
    client.force_login(boss)

    response = client.get(reverse("admin:org_shift_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [mine]
    assert client.get(reverse("admin:org_shift_change", args=[other.pk])).status_code == 302

    form = client.get(reverse("admin:org_shift_add")).context["adminform"].form
    assert list(form.fields["user"].queryset) == [boss, ours]

    response = client.post(
        reverse("admin:org_shift_add"),
        {"user": theirs.pk, "weekday": 1, "start": "08:00", "end": "17:00"},
    )
    assert response.status_code == 200  # the form comes back with an error
    assert not Shift.objects.filter(user=theirs, weekday=1).exists()

    response = client.post(
        reverse("admin:org_rosterexception_add"),
        {"user": ours.pk, "date": "2025-03-04", "kind": "extra", "start": "08:00", "end": ""},
        headers={"accept-language": "en"},
    )
    assert response.status_code == 200
    assert "An extra shift needs a start and an end time." in response.content.decode()


def test_a_manager_sees_every_units_rosters(place: Place) -> None:
    manager = create_staff(username="dave", roles=[Role.MANAGER])
    for name, unit in (("ours", place.unit), ("theirs", place.other_unit)):
        user = create_staff(username=name, roles=[Role.WORKER], unit=unit)
        Shift.objects.create(user=user, weekday=0, start=dt.time(8), end=dt.time(17))
    client = Client()
    client.force_login(manager)
    response = client.get(reverse("admin:org_shift_changelist"))
    assert response.context["cl"].queryset.count() == 2
    assert StaffProfile.objects.count() == 3
