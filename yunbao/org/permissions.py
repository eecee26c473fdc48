"""Roles as Django groups: one group per `Role` value, with that role's model permissions.

`ROLE_PERMISSIONS` is the floor of each role's permissions. `ensure_roles` creates missing
groups and grants what is missing; it never takes a permission away, so one granted by
hand in the admin stays (to withdraw a baseline permission, change the table).

When it runs. The permission rows of other apps' models (`workorders.view_workorder`) are
normally created by Django's own `post_migrate` handler, i.e. only after *all* migrations,
so a data migration cannot count on them. Two measures, both idempotent:

1. `org.0002_roles` depends on `workorders.0001_initial` and `ensure_roles` first creates
   the content types and default permissions of every model in the registry it is given
   (the migration's historical one), so a fresh database has complete role groups as soon
   as that migration ran, before anything else can log in.
2. `OrgConfig.ready` connects `ensure_roles_after_migrate` to `post_migrate`: models added
   later by other apps (and whose patterns are already in the table, like `*.view_*`) are
   granted on the next `migrate`, and a database emptied by `flush` (transactional tests)
   gets its groups back.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth import get_permission_codename
from django.db import DEFAULT_DB_ALIAS, router

from yunbao.org.models import Role

# Patterns over "app_label.codename" (fnmatch): what each role may do through Django's
# model permissions (the admin and `user.has_perm`). Which *rows* a person may see or change
# (their areas, their unit) is decided elsewhere: `WorkOrder.objects.visible_to`, the
# workflow's transition table, and the admin querysets of `yunbao.org.admin`.
ROLE_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    Role.ADMIN: ("*",),
    Role.MANAGER: (
        "*.view_*",
        "org.add_unit",
        "org.change_unit",
        "org.change_staffprofile",
        "org.add_shift",
        "org.change_shift",
        "org.delete_shift",
        "org.add_rosterexception",
        "org.change_rosterexception",
        "org.delete_rosterexception",
        "catalog.change_category",
        "catalog.add_timelimit",
        "catalog.change_timelimit",
        "dispatch.add_routingrule",
        "dispatch.change_routingrule",
        "dispatch.delete_routingrule",
        "dispatch.add_autothreshold",
        "dispatch.change_autothreshold",
        "fleet.add_device",
        "fleet.change_device",
    ),
    Role.DISPATCHER: (
        "workorders.view_*",
        "workorders.change_workorder",
        "catalog.view_*",
        "geo.view_*",
        "org.view_*",
    ),
    # Roster changes are limited to the supervisor's own unit by the admin's querysets.
    Role.SUPERVISOR: (
        "workorders.view_*",
        "catalog.view_*",
        "geo.view_*",
        "org.view_unit",
        "org.view_staffprofile",
        "org.view_shift",
        "org.add_shift",
        "org.change_shift",
        "org.delete_shift",
        "org.view_rosterexception",
        "org.add_rosterexception",
        "org.change_rosterexception",
        "org.delete_rosterexception",
        # Their unit's devices only (the fleet admin's querysets): who carries which badge.
        "fleet.view_device",
        "fleet.change_device",
        "fleet.view_position",
        "fleet.view_latestposition",
    ),
    Role.INSPECTOR: (
        "workorders.add_workorder",
        "workorders.view_workorder",
        "workorders.add_photo",
        "workorders.view_photo",
        "catalog.view_*",
        "geo.view_area",
    ),
    Role.WORKER: (
        "workorders.view_workorder",
        "workorders.add_photo",
        "workorders.view_photo",
        "org.view_shift",
        "org.view_rosterexception",
    ),
    # Residents and organisers act only through the site's own pages.
    Role.RESIDENT: (),
    Role.ORGANISER: (),
}

# Roles whose people may log in to the Django admin (User.is_staff).
ADMIN_SITE_ROLES: frozenset[str] = frozenset({Role.ADMIN, Role.MANAGER, Role.SUPERVISOR})


def ensure_roles(
    group_model: Any,
    permission_model: Any,
    content_type_model: Any,
    *,
    apps: Apps | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> dict[str, int]:
    """Create the role groups and grant each the permissions of `ROLE_PERMISSIONS`.

    The three model classes may be historical ones (from a migration's `apps`); pass that
    registry as `apps` so the permissions of exactly its models are created first.
    Returns, per role, how many permissions were newly granted.
    """
    _ensure_permissions(apps or global_apps, permission_model, content_type_model, using)
    permissions = list(
        permission_model.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    )
    granted: dict[str, int] = {}
    for role in Role:
        group, _created = group_model.objects.using(using).get_or_create(name=role.value)
        patterns = ROLE_PERMISSIONS.get(role, ())
        wanted = {
            pk
            for pk, app_label, codename in permissions
            if any(fnmatchcase(f"{app_label}.{codename}", p) for p in patterns)
        }
        missing = wanted - set(group.permissions.values_list("pk", flat=True))
        if missing:
            group.permissions.add(*missing)
        granted[role.value] = len(missing)
    return granted


def ensure_roles_after_migrate(
    sender: Any, *, apps: Apps | None = None, using: str = DEFAULT_DB_ALIAS, **kwargs: Any
) -> None:
    """`post_migrate` receiver: `ensure_roles` with the models as migrated."""
    registry = apps or global_apps
    try:
        group_model = registry.get_model("auth", "Group")
        permission_model = registry.get_model("auth", "Permission")
        content_type_model = registry.get_model("contenttypes", "ContentType")
    except LookupError:
        return  # auth or contenttypes not migrated (yet) on this database
    if not router.allow_migrate_model(using, group_model):
        return
    ensure_roles(group_model, permission_model, content_type_model, apps=registry, using=using)


def _ensure_permissions(
    registry: Apps, permission_model: Any, content_type_model: Any, using: str
) -> None:
    """Create the content types and permissions Django would create after migrating.

    The same rows as `django.contrib.auth.management.create_permissions` (default
    permissions named "Can <action> <verbose name>", plus `Meta.permissions`), for every
    model in `registry`, so they exist before Django's own `post_migrate` handler runs.
    """
    models = [m for m in registry.get_models() if router.allow_migrate_model(using, m)]
    content_types = {
        (ct.app_label, ct.model): ct for ct in content_type_model.objects.using(using).all()
    }
    new_types = [
        content_type_model(app_label=m._meta.app_label, model=m._meta.model_name)
        for m in models
        if (m._meta.app_label, m._meta.model_name) not in content_types
    ]
    if new_types:
        content_type_model.objects.using(using).bulk_create(new_types)
        content_types = {
            (ct.app_label, ct.model): ct for ct in content_type_model.objects.using(using).all()
        }
    existing = set(permission_model.objects.using(using).values_list("content_type_id", "codename"))
    new_permissions = []
    for model in models:
        opts = model._meta
        content_type = content_types[(opts.app_label, opts.model_name)]
        wanted = [
            (get_permission_codename(action, opts), f"Can {action} {opts.verbose_name_raw}")
            for action in opts.default_permissions
        ]
        wanted.extend(opts.permissions)
        for codename, name in wanted:
            if (content_type.pk, codename) not in existing:
                existing.add((content_type.pk, codename))
                new_permissions.append(
                    permission_model(content_type=content_type, codename=codename, name=name)
                )
    if new_permissions:
        permission_model.objects.using(using).bulk_create(new_permissions)
