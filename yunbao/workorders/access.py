"""Who may see which orders: the condition behind `WorkOrder.objects.visible_to(user)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q

from yunbao.org.models import Role
from yunbao.org.roles import areas_of, roles_of, unit_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Roles that see every order in their areas (and below).
AREA_ROLES = {Role.DISPATCHER, Role.MANAGER, Role.SUPERVISOR, Role.INSPECTOR}


def visibility_filter(user: AbstractBaseUser | AnonymousUser) -> Q | None:
    """A Q for the orders `user` may see, or None when they may see none."""
    if not user.is_authenticated or not user.is_active:
        return None
    roles = roles_of(user)
    if getattr(user, "is_superuser", False) or Role.ADMIN in roles:
        return Q()
    # Anyone sees what they reported themselves.
    condition = Q(reporter_id=user.pk)
    if Role.WORKER in roles:
        condition |= Q(worker_id=user.pk)
    if Role.SUPERVISOR in roles:
        unit = unit_of(user)
        if unit is not None:
            condition |= Q(unit_id=unit.pk)
    if roles & AREA_ROLES:
        for area in areas_of(user):
            condition |= Q(area_path__startswith=area.path)
    return condition
