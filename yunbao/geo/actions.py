"""Every write to areas: create, update, move, delete and bulk-create grids.

Each action validates its input (raising `GeoError` with a translated message), runs in one
transaction, keeps the derived columns (materialised `path`, bounding box, centre) in step
with the geometry, and invalidates the point-locating cache of `yunbao.geo.locate`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final

from django.db import transaction
from django.db.models import CharField, ProtectedError, Value
from django.db.models.functions import Cast, Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.geo.geometry import (
    GeoError,
    GeometryInput,
    derived_fields,
    parse_geometry,
    to_geojson,
)
from yunbao.geo.importing import ImportPlan, PlannedArea
from yunbao.geo.locate import invalidate_cache
from yunbao.geo.models import PARENT_LEVEL, Area, Level

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    Actor = AbstractBaseUser | AnonymousUser | None

__all__ = [
    "UNSET",
    "ChildSpec",
    "GeoError",
    "ImportResult",
    "bulk_create_children",
    "check_parent",
    "child_level",
    "create_area",
    "delete_area",
    "import_areas",
    "update_area",
]

logger = logging.getLogger("yunbao.geo")

CODE_MAX = Area._meta.get_field("code").max_length or 32
NAME_MAX = Area._meta.get_field("name").max_length or 100
# SQLite builds before 3.32 allow 999 parameters per statement; stay below for `code IN`.
_IN_CHUNK = 900


class _Unset(Enum):
    UNSET = "unset"


# Marks "leave unchanged" where None is a meaningful value (a district's parent is None).
UNSET: Final = _Unset.UNSET


@dataclass(frozen=True)
class ChildSpec:
    """One area for `bulk_create_children`."""

    code: str
    name: str
    geometry: GeometryInput
    name_en: str = ""
    jurisdiction_id: str = ""


def child_level(level: str) -> str | None:
    """The level directly below `level` (None below a grid)."""
    for child, parent in PARENT_LEVEL.items():
        if parent == level:
            return child
    return None


def _notify_changed() -> None:
    # Now, for readers in this process and this transaction; again on commit, for a
    # thread that rebuilt its index from the committed state while we were writing.
    invalidate_cache()
    transaction.on_commit(invalidate_cache)


def _check_code(code: str) -> str:
    code = (code or "").strip()
    if not code:
        raise GeoError(_("The code must not be empty."))
    if len(code) > CODE_MAX:
        raise GeoError(
            _("The code %(code)s is longer than %(max)d characters.")
            % {"code": code, "max": CODE_MAX}
        )
    return code


def _check_name(name: str, code: str) -> str:
    name = (name or "").strip()
    if not name:
        raise GeoError(_("The area %(code)s has no name.") % {"code": code})
    if len(name) > NAME_MAX:
        raise GeoError(
            _("The name of %(code)s is longer than %(max)d characters.")
            % {"code": code, "max": NAME_MAX}
        )
    return name


def check_parent(level: str, parent: Area | None) -> None:
    """Raise `GeoError` unless `parent` may hold an area of `level`."""
    if level not in Level.values:
        raise GeoError(
            _("Unknown level %(level)s; use one of %(levels)s.")
            % {"level": level, "levels": ", ".join(Level.values)}
        )
    expected = PARENT_LEVEL[level]
    if expected is None:
        if parent is not None:
            raise GeoError(_("A district has no parent area."))
        return
    if parent is None:
        raise GeoError(
            _("An area of level %(level)s needs a parent of level %(parent)s.")
            % {"level": level, "parent": expected}
        )
    if parent.level != expected:
        raise GeoError(
            _(
                "The parent of an area of level %(level)s must be of level %(expected)s, "
                "but %(code)s is of level %(actual)s."
            )
            % {"level": level, "expected": expected, "code": parent.code, "actual": parent.level}
        )


def _check_code_free(code: str, *, exclude_pk: int | None = None) -> None:
    taken = Area.objects.filter(code=code)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise GeoError(_("The code %(code)s is already used by another area.") % {"code": code})


def _locked_parent(parent: Area | None) -> Area | None:
    # Lock the parent so it cannot be moved or deleted while a child takes its path.
    if parent is None:
        return None
    if parent.pk is None:
        raise GeoError(_("The parent area has not been saved."))
    return Area.objects.select_for_update().get(pk=parent.pk)


def create_area(
    *,
    level: str,
    code: str,
    name: str,
    geometry: GeometryInput,
    parent: Area | None = None,
    name_en: str = "",
    jurisdiction_id: str = "",
    actor: Actor = None,
) -> Area:
    """Create one area under `parent` (whose level must be the one above `level`)."""
    code = _check_code(code)
    name = _check_name(name, code)
    check_parent(level, parent)
    geom = parse_geometry(geometry)
    with transaction.atomic():
        locked = _locked_parent(parent)
        _check_code_free(code)
        area = Area(
            level=level,
            code=code,
            name=name,
            name_en=(name_en or "").strip(),
            parent=locked,
            geometry=to_geojson(geom),
            jurisdiction_id=(jurisdiction_id or "").strip(),
            **derived_fields(geom),
        )
        area.save()
        # The path holds our own id, which only exists after the INSERT.
        area.path = f"{locked.path if locked else '/'}{area.pk}/"
        area.save(update_fields=["path"])
        _notify_changed()
    logger.debug("area %s (%s) created by %s", code, level, actor or "system")
    return area


def update_area(
    area: Area,
    *,
    geometry: GeometryInput | None = None,
    name: str | None = None,
    name_en: str | None = None,
    code: str | None = None,
    jurisdiction_id: str | None = None,
    parent: Area | _Unset | None = UNSET,
    actor: Actor = None,
) -> Area:
    """Change the given fields of `area` (None / UNSET: unchanged) and return it refreshed.

    A new `parent` moves the area with everything below it (their paths are rewritten).
    """
    if area.pk is None:
        raise GeoError(_("The area has not been saved."))
    new_code = _check_code(code) if code is not None else None
    new_geom = parse_geometry(geometry) if geometry is not None else None
    with transaction.atomic():
        locked = Area.objects.select_for_update().get(pk=area.pk)
        changed: list[str] = []
        if new_code is not None and new_code != locked.code:
            _check_code_free(new_code, exclude_pk=locked.pk)
            locked.code = new_code
            changed.append("code")
        if name is not None:
            locked.name = _check_name(name, locked.code)
            changed.append("name")
        if name_en is not None:
            locked.name_en = name_en.strip()
            changed.append("name_en")
        if jurisdiction_id is not None:
            locked.jurisdiction_id = jurisdiction_id.strip()
            changed.append("jurisdiction_id")
        if new_geom is not None:
            locked.geometry = to_geojson(new_geom)
            derived = derived_fields(new_geom)
            for field, value in derived.items():
                setattr(locked, field, value)
            changed += ["geometry", *derived]
        moved = False
        if not isinstance(parent, _Unset) and (parent.pk if parent else None) != locked.parent_id:
            check_parent(locked.level, parent)
            new_parent = _locked_parent(parent)
            locked.parent = new_parent
            changed.append("parent")
            moved = True
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
        if moved:
            _move_subtree(locked)
        if changed:
            _notify_changed()
    area.refresh_from_db()
    if changed:
        logger.debug("area %s updated (%s) by %s", area.code, ", ".join(changed), actor or "system")
    return area


def _move_subtree(area: Area) -> None:
    """Rewrite the paths of `area` and its descendants after its parent changed."""
    old_path = area.path
    new_path = f"{area.parent.path if area.parent else '/'}{area.pk}/"
    # One UPDATE for the whole subtree: new prefix + the part of each path below the area.
    Area.objects.filter(path__startswith=old_path).update(
        path=Concat(
            Value(new_path),
            Substr("path", len(old_path) + 1),
            output_field=CharField(),
        ),
        updated_at=timezone.now(),
    )
    area.path = new_path


def delete_area(area: Area, *, actor: Actor = None) -> None:
    """Delete an area that has no children and that nothing else refers to."""
    with transaction.atomic():
        locked = Area.objects.select_for_update().get(pk=area.pk)
        if locked.children.exists():
            raise GeoError(
                _("The area %(code)s still has areas below it; delete or move them first.")
                % {"code": locked.code}
            )
        try:
            locked.delete()
        except ProtectedError as exc:
            raise GeoError(
                _("The area %(code)s is still referred to (e.g. by work orders or staff).")
                % {"code": locked.code}
            ) from exc
        _notify_changed()
    logger.debug("area %s deleted by %s", area.code, actor or "system")


def bulk_create_children(
    parent: Area, items: Iterable[ChildSpec], *, actor: Actor = None
) -> list[Area]:
    """Create many areas one level below `parent` with a few statements (for 10,000 grids).

    All items are validated before anything is written; a bad one raises `GeoError` naming
    its code and nothing is created.
    """
    specs = list(items)
    level = child_level(parent.level)
    if level is None:
        raise GeoError(_("A grid cannot have areas below it."))
    codes: list[str] = []
    rows: list[Area] = []
    seen: set[str] = set()
    for spec in specs:
        code = _check_code(spec.code)
        if code in seen:
            raise GeoError(_("The code %(code)s appears twice.") % {"code": code})
        seen.add(code)
        codes.append(code)
        try:
            geom = parse_geometry(spec.geometry)
        except GeoError as exc:
            raise GeoError(f"{code}: {exc}") from exc
        rows.append(
            Area(
                level=level,
                code=code,
                name=_check_name(spec.name, code),
                name_en=(spec.name_en or "").strip(),
                parent=parent,
                geometry=to_geojson(geom),
                jurisdiction_id=(spec.jurisdiction_id or "").strip(),
                **derived_fields(geom),
            )
        )
    if not rows:
        return []
    with transaction.atomic():
        locked = _locked_parent(parent)
        assert locked is not None
        for chunk in _chunks(codes, _IN_CHUNK):
            taken = list(Area.objects.filter(code__in=chunk).values_list("code", flat=True)[:5])
            if taken:
                raise GeoError(
                    _("These codes are already used: %(codes)s") % {"codes": ", ".join(taken)}
                )
        created = Area.objects.bulk_create(rows, batch_size=500)
        # One UPDATE sets every new child's path from its own id (ids exist only now); the
        # empty path marks exactly the rows just inserted in this transaction.
        Area.objects.filter(parent=locked, path="").update(
            path=Concat(
                Value(locked.path), Cast("id", CharField()), Value("/"), output_field=CharField()
            )
        )
        for area in created:
            area.path = f"{locked.path}{area.pk}/"
        _notify_changed()
    logger.debug(
        "%d areas (%s) created under %s by %s", len(created), level, parent.code, actor or "system"
    )
    return created


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class ImportResult:
    """How many areas of each level an import created, updated or left unchanged."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)


def _update_from_plan(area: Area, planned: PlannedArea, parent: Area | None, actor: Actor) -> bool:
    """Bring `area` in line with `planned`; False when it already was."""
    geojson = to_geojson(planned.geometry)
    geometry = geojson if area.geometry != geojson else None
    name = planned.name if area.name != planned.name else None
    name_en = planned.name_en if area.name_en != planned.name_en else None
    jurisdiction_id = (
        planned.jurisdiction_id if area.jurisdiction_id != planned.jurisdiction_id else None
    )
    new_parent: Area | _Unset | None = (
        parent if area.parent_id != (parent.pk if parent else None) else UNSET
    )
    if (geometry, name, name_en, jurisdiction_id) == (None,) * 4 and new_parent is UNSET:
        return False
    update_area(
        area,
        geometry=geometry,
        name=name,
        name_en=name_en,
        jurisdiction_id=jurisdiction_id,
        parent=new_parent,
        actor=actor,
    )
    return True


def import_areas(
    plan: ImportPlan,
    *,
    actor: Actor = None,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Write a checked `ImportPlan` in one transaction: create new codes, update known ones.

    Re-importing the same file changes nothing. Any failure rolls the whole import back.
    """
    if not plan.ok:
        raise GeoError(_("The import has problems; nothing was imported."))
    result = ImportResult()
    by_level: dict[str, list[PlannedArea]] = {}
    for planned in plan.areas:
        by_level.setdefault(planned.level, []).append(planned)
    with transaction.atomic():
        for level in Level.values:
            todo = by_level.get(level, [])
            if not todo:
                continue
            codes = {p.code for p in todo} | {p.parent_code for p in todo if p.parent_code}
            known: dict[str, Area] = {}
            for chunk in _chunks(sorted(codes), _IN_CHUNK):
                known.update((a.code, a) for a in Area.objects.filter(code__in=chunk))
            new_by_parent: dict[str | None, list[PlannedArea]] = {}
            for planned in todo:
                parent = known[planned.parent_code] if planned.parent_code else None
                area = known.get(planned.code)
                if area is None:
                    new_by_parent.setdefault(planned.parent_code, []).append(planned)
                    continue
                if _update_from_plan(area, planned, parent, actor):
                    result.updated[level] += 1
                else:
                    result.unchanged[level] += 1
            for parent_code, group in new_by_parent.items():
                if parent_code is None:
                    for planned in group:
                        create_area(
                            level=planned.level,
                            code=planned.code,
                            name=planned.name,
                            name_en=planned.name_en,
                            jurisdiction_id=planned.jurisdiction_id,
                            geometry=planned.geometry,
                            actor=actor,
                        )
                else:
                    bulk_create_children(
                        known[parent_code],
                        (
                            ChildSpec(p.code, p.name, p.geometry, p.name_en, p.jurisdiction_id)
                            for p in group
                        ),
                        actor=actor,
                    )
                result.created[level] += len(group)
            if progress:
                progress(
                    _("%(level)s: %(created)d created, %(updated)d updated, %(same)d unchanged")
                    % {
                        "level": Level(level).label,
                        "created": result.created[level],
                        "updated": result.updated[level],
                        "same": result.unchanged[level],
                    }
                )
    return result
