"""Creating staff and changing their roles."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from yunbao.org.actions import create_staff, set_roles
from yunbao.org.models import Role, StaffProfile
from yunbao.org.roles import roles_of
from yunbao.org.tests.conftest import Place

pytestmark = pytest.mark.django_db


def test_it_creates_a_user_with_profile_areas_and_roles(place: Place) -> None:
    user = create_staff(
        username=" wang ",
        password="s3cret-pass",
        roles=[Role.WORKER, Role.INSPECTOR],
        unit=place.unit,
        areas=[place.street_a],
        display_name="王师傅",
        phone="13800000000",
    )
    user.refresh_from_db()
    assert user.username == "wang"
    assert user.check_password("s3cret-pass")
    assert not user.is_staff
    profile = StaffProfile.objects.get(user=user)
    assert (profile.unit, profile.display_name, profile.phone) == (
        place.unit,
        "王师傅",
        "13800000000",
    )
    assert list(profile.areas.all()) == [place.street_a]
    assert roles_of(user) == {Role.WORKER, Role.INSPECTOR}


def test_it_makes_managers_staff_and_leaves_passwordless_accounts_unusable() -> None:
    user = create_staff(username="li", roles=Role.MANAGER)
    assert user.is_staff
    assert not user.has_usable_password()
    assert user.has_perm("org.change_unit")
    assert not StaffProfile.objects.get(user=user).areas.exists()


def test_it_rejects_unknown_roles_and_taken_usernames() -> None:
    with pytest.raises(ValueError, match=r"unknown role\(s\): 'cleaner'"):
        create_staff(username="zhao", roles=[Role.WORKER, "cleaner"])
    assert not User.objects.filter(username="zhao").exists()

    create_staff(username="zhao", roles=[])
    with pytest.raises(ValueError, match="already taken"):
        create_staff(username="zhao", roles=[Role.WORKER])
    with pytest.raises(ValueError, match="username is required"):
        create_staff(username="  ", roles=[Role.WORKER])


def test_it_creates_missing_role_groups_on_the_way() -> None:
    Group.objects.filter(name=Role.WORKER).delete()
    user = create_staff(username="qian", roles=[Role.WORKER])
    assert roles_of(user) == {Role.WORKER}
    assert user.has_perm("workorders.view_workorder")


def test_it_replaces_roles_but_keeps_other_groups() -> None:
    user = create_staff(username="sun", roles=[Role.SUPERVISOR])
    volunteers = Group.objects.create(name="volunteers")
    user.groups.add(volunteers)
    assert roles_of(user) == {Role.SUPERVISOR}  # cached from here on

    set_roles(user, [Role.WORKER])

    assert roles_of(user) == {Role.WORKER}
    assert set(user.groups.values_list("name", flat=True)) == {"worker", "volunteers"}
    user.refresh_from_db()
    assert not user.is_staff  # the supervisor role was what let them into the admin

    set_roles(user, [Role.MANAGER, Role.DISPATCHER])
    user.refresh_from_db()
    assert user.is_staff
    assert roles_of(user) == {Role.MANAGER, Role.DISPATCHER}


def test_it_keeps_admin_access_given_by_hand() -> None:
    user = create_staff(username="zhou", roles=[Role.WORKER])
    user.is_staff = True
    user.save()
    set_roles(user, [Role.DISPATCHER])
    user.refresh_from_db()
    assert user.is_staff


def test_it_refuses_unknown_roles_without_changing_anything() -> None:
    user = create_staff(username="wu", roles=[Role.WORKER])
    with pytest.raises(ValueError, match="the roles are resident, inspector"):
        set_roles(user, ["boss"])
    assert roles_of(user) == {Role.WORKER}
