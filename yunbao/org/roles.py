"""What roles, unit and areas a user has, read once per request and cached on the user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yunbao.org.models import Role, StaffProfile, Unit

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from yunbao.geo.models import Area


def _cached(user: Any, key: str, compute: Any) -> Any:
    cache = user.__dict__.setdefault("_yunbao_cache", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The user's role names (Django groups named after `Role` values)."""
    if not user.is_authenticated:
        return set()
    # Any: AbstractBaseUser declares no `groups`, though every user model here has them.
    account: Any = user
    names = _cached(user, "roles", lambda: set(account.groups.values_list("name", flat=True)))
    roles = {r for r in names if r in Role.values}
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    return roles


def profile_of(user: AbstractBaseUser | AnonymousUser) -> StaffProfile | None:
    if not user.is_authenticated:
        return None
    return _cached(
        user,
        "profile",
        lambda: StaffProfile.objects.select_related("unit").filter(user_id=user.pk).first(),
    )


def unit_of(user: AbstractBaseUser | AnonymousUser) -> Unit | None:
    profile = profile_of(user)
    return profile.unit if profile else None


def areas_of(user: AbstractBaseUser | AnonymousUser) -> list[Area]:
    profile = profile_of(user)
    if profile is None:
        return []
    return _cached(user, "areas", lambda: list(profile.areas.all()))


def forget(user: Any) -> None:
    """Drop the cached roles/profile (after they changed within one request or test)."""
    user.__dict__.pop("_yunbao_cache", None)
