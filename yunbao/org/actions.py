"""Writes on staff: create a staff member with profile and roles, change someone's roles.

Roles are the Django groups named after `Role` values; other groups a user belongs to
(made by hand in the admin) are left alone. `User.is_staff` (may log in to the Django
admin) follows the roles in `ADMIN_SITE_ROLES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from yunbao.org.models import Role, StaffProfile, Unit
from yunbao.org.permissions import ADMIN_SITE_ROLES, ensure_roles
from yunbao.org.roles import forget

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from yunbao.geo.models import Area


def create_staff(
    *,
    username: str,
    password: str | None = None,
    roles: Iterable[str],
    unit: Unit | None = None,
    areas: Iterable[Area] = (),
    display_name: str = "",
    phone: str = "",
) -> User:
    """Create a user with a `StaffProfile` (unit, areas) and the given roles.

    Without a password the account cannot log in with one (set it later, or use another
    login). Raises ValueError for an unknown role, an empty or taken username.
    """
    names = _role_names(roles)
    username = username.strip()
    if not username:
        raise ValueError("a username is required")
    user_model = get_user_model()
    with transaction.atomic():
        if user_model._default_manager.filter(username=username).exists():
            raise ValueError(f"the username {username!r} is already taken")
        user = user_model._default_manager.create_user(
            username=username, password=password, is_staff=bool(names & ADMIN_SITE_ROLES)
        )
        profile = StaffProfile.objects.create(
            user=user, unit=unit, display_name=display_name.strip(), phone=phone.strip()
        )
        profile.areas.set(list(areas))
        user.groups.set(_role_groups(names))
    return user


def set_roles(user: User, roles: Iterable[str]) -> None:
    """Make `roles` exactly the user's roles; non-role groups stay as they are.

    Grants admin-site access (`is_staff`) with an admin-site role and withdraws it when the
    last such role goes, unless the user is a superuser. Raises ValueError for unknown roles.
    """
    names = _role_names(roles)
    with transaction.atomic():
        # Lock the user so two concurrent role changes cannot interleave their group sets.
        locked = type(user)._default_manager.select_for_update().get(pk=user.pk)
        before = set(locked.groups.filter(name__in=Role.values).values_list("name", flat=True))
        others = list(locked.groups.exclude(name__in=Role.values))
        locked.groups.set([*others, *_role_groups(names)])
        if names & ADMIN_SITE_ROLES:
            is_staff = True
        elif before & ADMIN_SITE_ROLES and not locked.is_superuser:
            is_staff = False
        else:
            is_staff = locked.is_staff
        if is_staff != locked.is_staff:
            locked.is_staff = is_staff
            locked.save(update_fields=["is_staff"])
        user.is_staff = is_staff
    forget(user)


def _role_names(roles: Iterable[str]) -> set[str]:
    # A bare string would otherwise be iterated letter by letter.
    items = [roles] if isinstance(roles, str) else list(roles)
    names = {str(role) for role in items}
    unknown = sorted(names - set(Role.values))
    if unknown:
        raise ValueError(
            f"unknown role(s): {', '.join(map(repr, unknown))}; "
            f"the roles are {', '.join(Role.values)}"
        )
    return names


def _role_groups(names: set[str]) -> list[Group]:
    groups = list(Group.objects.filter(name__in=names))
    if len(groups) < len(names):
        # The groups come with migrate; a flushed database (some tests) may lack them.
        ensure_roles(Group, Permission, ContentType)
        groups = list(Group.objects.filter(name__in=names))
    return groups
