"""Role groups and their permissions, from the migration and from `ensure_roles`."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from yunbao.org.models import Role
from yunbao.org.permissions import ROLE_PERMISSIONS, ensure_roles, ensure_roles_after_migrate

pytestmark = pytest.mark.django_db


def codes(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_it_has_one_group_per_role_after_migrate() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def test_it_gives_each_role_its_permissions() -> None:
    assert codes(Role.ADMIN) == {
        f"{app}.{codename}"
        for app, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }

    manager = codes(Role.MANAGER)
    assert {
        "workorders.view_workorder", "geo.view_area", "auth.view_user", "org.change_unit",
        "org.change_shift", "org.add_rosterexception", "catalog.change_category",
        "catalog.change_timelimit",
    } <= manager  # fmt: skip
    assert "workorders.change_workorder" not in manager
    assert "auth.change_user" not in manager

    dispatcher = codes(Role.DISPATCHER)
    assert {"workorders.view_workorder", "workorders.change_workorder"} <= dispatcher
    assert "workorders.delete_workorder" not in dispatcher
    assert "org.change_unit" not in dispatcher

    supervisor = codes(Role.SUPERVISOR)
    assert {"workorders.view_workorder", "org.change_shift", "org.add_rosterexception"} <= (
        supervisor
    )
    assert "workorders.change_workorder" not in supervisor
    assert "org.change_unit" not in supervisor

    assert "workorders.view_workorder" in codes(Role.WORKER)
    assert codes(Role.RESIDENT) == set()
    assert codes(Role.ORGANISER) == set()


def test_it_describes_every_role() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role.values)


def test_it_rebuilds_missing_groups_and_permissions() -> None:
    Group.objects.filter(name__in=[Role.DISPATCHER, Role.MANAGER]).delete()
    Permission.objects.filter(content_type__app_label="workorders").delete()

    granted = ensure_roles(Group, Permission, ContentType)

    assert granted[Role.DISPATCHER] > 0
    assert "workorders.change_workorder" in codes(Role.DISPATCHER)
    assert Permission.objects.get(codename="view_workorder").name == "Can view work order"
    # Nothing left to do the second time.
    assert set(ensure_roles(Group, Permission, ContentType).values()) == {0}


def test_it_never_takes_away_a_permission_granted_by_hand() -> None:
    extra = Permission.objects.get(codename="delete_workorder")
    Group.objects.get(name=Role.DISPATCHER).permissions.add(extra)
    ensure_roles(Group, Permission, ContentType)
    assert "workorders.delete_workorder" in codes(Role.DISPATCHER)


def test_it_restores_the_groups_after_migrate() -> None:
    Group.objects.filter(name=Role.WORKER).delete()
    ensure_roles_after_migrate(apps.get_app_config("org"), apps=apps, using="default")
    assert "workorders.view_workorder" in codes(Role.WORKER)
