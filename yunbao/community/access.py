"""Who may run which activities: organisers, operations managers and administrators.

- Administrators: every activity and every area.
- Organisers and managers: the activities whose area lies within one of their own areas
  (`org.roles.areas_of`, a prefix match on the materialised path), like other staff; they
  create activities only there. Without any area they organise nothing.
- Everyone else (residents, workers, dispatchers, anonymous visitors): no organiser pages
  (403; anonymous visitors are sent to log in). An activity outside someone's areas is a
  404 on the organiser pages, so ids reveal nothing.

The public pages (calendar, activity, sign-up, check-in, leaderboard, "my points") show
published and closed activities only, and never a participant's phone or account.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q, QuerySet

from yunbao.community.models import Activity
from yunbao.geo.models import Area
from yunbao.org.models import Role
from yunbao.org.roles import areas_of, roles_of

ORGANISER_ROLES = frozenset({Role.ORGANISER, Role.MANAGER, Role.ADMIN})


def may_organise(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(roles_of(user) & ORGANISER_ROLES)


def _scope(user: Any, field: str) -> Q | None:
    """`field` within the user's areas; None for everything (administrators)."""
    if Role.ADMIN in roles_of(user):
        return None
    paths = [a.path for a in areas_of(user)]
    if not paths:
        return Q(pk__in=[])
    return reduce(or_, (Q(**{f"{field}__startswith": p}) for p in paths))


def manageable_activities(user: Any) -> QuerySet[Activity]:
    """The activities `user` may manage (see the module docstring)."""
    if not may_organise(user):
        return Activity.objects.none()
    scope = _scope(user, "area__path")
    qs = Activity.objects.all()
    return qs if scope is None else qs.filter(scope)


def organisable_areas(user: Any) -> QuerySet[Area]:
    """The areas `user` may create activities in."""
    if not may_organise(user):
        return Area.objects.none()
    scope = _scope(user, "path")
    qs = Area.objects.all()
    return qs if scope is None else qs.filter(scope)


def may_organise_in(user: Any, area: Area) -> bool:
    return organisable_areas(user).filter(pk=area.pk).exists()
