"""Checking a GeoJSON file of areas before importing it (read-only; see `actions.import_areas`).

`plan_import` reads a FeatureCollection whose feature properties give `level`, `code`,
`name`, optional `name_en`, `jurisdiction_id` and `parent` (the parent's code, in the file
or already in the database). It finds every problem of every feature at once — so a person
fixes the file in one go — and, if there is none, returns an `ImportPlan` ordered parents
first, which `yunbao.geo.actions.import_areas` writes in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.utils.translation import gettext as _
from shapely.geometry import MultiPolygon, Polygon, shape

from yunbao.geo.geometry import OVERLAP_TOLERANCE, GeoError, parse_geometry
from yunbao.geo.models import PARENT_LEVEL, Area, Level

__all__ = ["LEVEL_ORDER", "ImportPlan", "PlannedArea", "Problem", "plan_import"]

# Parents before children.
LEVEL_ORDER: dict[str, int] = {level: rank for rank, level in enumerate(Level.values)}

_CODE_MAX = Area._meta.get_field("code").max_length or 32
_NAME_MAX = Area._meta.get_field("name").max_length or 100
_IN_CHUNK = 900


@dataclass(frozen=True)
class Problem:
    """Why one feature (or the file, when `index` is None) cannot be imported."""

    index: int | None
    code: str
    reason: str

    def __str__(self) -> str:
        if self.index is None:
            return self.reason
        return _("feature %(index)d (code %(code)s): %(reason)s") % {
            "index": self.index,
            "code": self.code or "?",
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PlannedArea:
    """One checked feature, ready to be created or to update the area of the same code."""

    index: int
    level: str
    code: str
    name: str
    name_en: str
    parent_code: str | None
    jurisdiction_id: str
    geometry: Polygon | MultiPolygon


@dataclass
class ImportPlan:
    """Checked areas, parents before children, or the problems found."""

    areas: list[PlannedArea] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _text(props: Mapping[str, Any], key: str) -> str:
    value = props.get(key)
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Codes are often written as JSON numbers (440305001); the digits are the code.
        return str(int(value)) if float(value).is_integer() else str(value)
    return str(value).strip()


def plan_import(data: Any) -> ImportPlan:
    """Check a parsed GeoJSON document; see the module docstring."""
    plan = ImportPlan()
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        plan.problems.append(Problem(None, "", _("The file is not a GeoJSON FeatureCollection.")))
        return plan
    features = data.get("features")
    if not isinstance(features, list):
        plan.problems.append(Problem(None, "", _("The FeatureCollection has no feature list.")))
        return plan

    by_code: dict[str, PlannedArea] = {}
    first_index: dict[str, int] = {}
    for index, feature in enumerate(features):
        area = _check_feature(index, feature, plan.problems, first_index)
        if area is not None:
            by_code[area.code] = area

    existing = _existing(
        by_code.keys() | {a.parent_code for a in by_code.values() if a.parent_code}
    )
    # Overlaps first: they do not depend on the hierarchy, and are worth knowing at once.
    _check_overlaps(by_code, plan.problems)
    _check_parents(by_code, first_index, existing, plan.problems)

    if plan.problems:
        plan.problems.sort(key=lambda p: (-1 if p.index is None else p.index, p.reason))
        return plan
    plan.areas = sorted(by_code.values(), key=lambda a: (LEVEL_ORDER[a.level], a.index))
    return plan


def _check_feature(
    index: int, feature: Any, problems: list[Problem], first_index: dict[str, int]
) -> PlannedArea | None:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        problems.append(Problem(index, "", _("Not a GeoJSON Feature.")))
        return None
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        problems.append(Problem(index, "", _("The feature has no properties.")))
        return None
    code = _text(props, "code")
    found: list[str] = []
    if not code:
        found.append(_("The code is missing."))
    elif len(code) > _CODE_MAX:
        found.append(_("The code is longer than %(max)d characters.") % {"max": _CODE_MAX})
    elif code in first_index:
        found.append(
            _("The code is a duplicate of feature %(other)d.") % {"other": first_index[code]}
        )
    else:
        first_index[code] = index
    level = _text(props, "level")
    if level not in Level.values:
        found.append(
            _("Unknown level %(level)r; use one of %(levels)s.")
            % {"level": level, "levels": ", ".join(Level.values)}
        )
    name = _text(props, "name")
    name_en = _text(props, "name_en")
    if not name:
        found.append(_("The name is missing."))
    if len(name) > _NAME_MAX or len(name_en) > _NAME_MAX:
        found.append(_("The name is longer than %(max)d characters.") % {"max": _NAME_MAX})
    geometry: Polygon | MultiPolygon | None = None
    raw = feature.get("geometry")
    if not isinstance(raw, Mapping):
        found.append(_("The feature has no geometry."))
    else:
        try:
            geometry = parse_geometry(raw)
        except GeoError as exc:
            found.append(str(exc))
    problems.extend(Problem(index, code, reason) for reason in found)
    if found or geometry is None:
        return None
    parent_code = _text(props, "parent") or None
    return PlannedArea(
        index=index,
        level=level,
        code=code,
        name=name,
        name_en=name_en,
        parent_code=parent_code,
        jurisdiction_id=_text(props, "jurisdiction_id"),
        geometry=geometry,
    )


def _existing(codes: Iterable[str]) -> dict[str, str]:
    """Level of each of `codes` already in the database."""
    found: dict[str, str] = {}
    wanted = sorted(codes)
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        found.update(Area.objects.filter(code__in=chunk).values_list("code", "level"))
    return found


def _check_parents(
    by_code: dict[str, PlannedArea],
    first_index: dict[str, int],
    existing: dict[str, str],
    problems: list[Problem],
) -> None:
    # Parents first, so a child of a refused parent is told so whatever the file's order.
    for area in sorted(by_code.values(), key=lambda a: (LEVEL_ORDER[a.level], a.index)):
        reason = None
        old_level = existing.get(area.code)
        expected = PARENT_LEVEL[area.level]
        if old_level is not None and old_level != area.level:
            reason = _(
                "An area with this code already exists at level %(old)s; its level cannot "
                "change to %(new)s."
            ) % {"old": old_level, "new": area.level}
        elif expected is None:
            if area.parent_code:
                reason = _("A district has no parent, but %(parent)s is given.") % {
                    "parent": area.parent_code
                }
        elif not area.parent_code:
            reason = _("The parent (code of the %(expected)s above it) is missing.") % {
                "expected": expected
            }
        else:
            if area.parent_code in by_code:
                parent_level: str | None = by_code[area.parent_code].level
            elif area.parent_code in first_index:
                parent_level = None  # the parent is in the file but has problems of its own
                reason = _("The parent %(parent)s has problems (see its feature).") % {
                    "parent": area.parent_code
                }
            else:
                parent_level = existing.get(area.parent_code)
                if parent_level is None:
                    reason = _("Unknown parent %(parent)s: not in the file nor the database.") % {
                        "parent": area.parent_code
                    }
            if parent_level is not None and parent_level != expected:
                reason = _(
                    "The parent %(parent)s is of level %(actual)s, but a %(level)s needs a "
                    "parent of level %(expected)s."
                ) % {
                    "parent": area.parent_code,
                    "actual": parent_level,
                    "level": area.level,
                    "expected": expected,
                }
        if reason:
            problems.append(Problem(area.index, area.code, reason))
            del by_code[area.code]


def _check_overlaps(by_code: dict[str, PlannedArea], problems: list[Problem]) -> None:
    """Report features covering the same ground as another area of their level.

    Areas of one level must not overlap anywhere (else a point would lie in two grids), so
    each feature is compared with the file's other features of its level and with those
    already in the database that the file does not replace.
    """
    bad: set[str] = set()
    for level in Level.values:
        file_areas = [a for a in by_code.values() if a.level == level]
        if not file_areas:
            continue
        codes = [a.code for a in file_areas]
        geoms = [a.geometry for a in file_areas]
        replaced = set(codes)
        for code, raw in Area.objects.filter(level=level).values_list("code", "geometry"):
            if code not in replaced:
                codes.append(code)
                geoms.append(shape(raw))
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms[: len(file_areas)], predicate="intersects")
        # Each pair of file features is found twice; keep it once, and drop self-pairs.
        keep = (left != right) & ((right >= len(file_areas)) | (left < right))
        left, right = left[keep], right[keep]
        if left.size == 0:
            continue
        everything = np.array(geoms, dtype=object)
        a, b = everything[left], everything[right]
        shared = shapely.area(shapely.intersection(a, b))
        smaller = np.minimum(shapely.area(a), shapely.area(b))
        shares = (shared / smaller).tolist()
        for i, j, share in zip(left.tolist(), right.tolist(), shares, strict=True):
            if share <= OVERLAP_TOLERANCE:
                continue
            # Report on the later feature of a pair within the file, the one a person added.
            if j >= len(file_areas) or file_areas[i].index > file_areas[j].index:
                later, other = i, j
            else:
                later, other = j, i
            area = file_areas[later]
            problems.append(
                Problem(
                    area.index,
                    area.code,
                    _("It overlaps %(other)s (%(level)s) by %(share).2f%% of the smaller area.")
                    % {"other": codes[other], "level": level, "share": share * 100},
                )
            )
            bad.add(area.code)
    for code in bad:
        by_code.pop(code, None)
