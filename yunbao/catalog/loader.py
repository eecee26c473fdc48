"""Load the standard catalogue (scenes, categories, time limits) from its JSON document.

The shipped document is `yunbao/catalog/data/catalog.json`; its `notes` explain the format.
`load_catalog` validates the whole document first and writes nothing when any of it is
wrong, then creates or updates rows by code, so loading it again changes nothing.

The loader takes the model classes as arguments so a data migration can pass the
historical models from `apps.get_model(...)`; it therefore uses only plain manager methods
and the fields that exist since `catalog.0001_initial`. A category's `active` flag is never
written on update: switching a shipped category off is the administrator's decision and a
reload must not undo it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from yunbao.catalog.models import Category, Kind, Scene, Stage, TimeLimit, TimeUnit, Urgency

CATALOG_PATH = Path(__file__).resolve().parent / "data" / "catalog.json"

_SCENE_CODE = re.compile(r"^[a-z][a-z0-9_-]*$")
_MAJOR_CODE = re.compile(r"^\d{2}$")
_CATEGORY_CODE = re.compile(r"^[EC]\d{4}$")
_ICON = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Which top-level list holds which kind, and the code prefix of that kind.
_KINDS: tuple[tuple[str, Kind, str], ...] = (
    ("events", Kind.EVENT, "E"),
    ("components", Kind.COMPONENT, "C"),
)
# TimeLimit.amount is DecimalField(max_digits=6, decimal_places=2).
_MAX_AMOUNT = Decimal("9999.99")


class CatalogError(ValueError):
    """The catalogue document is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid catalogue:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


@dataclass(frozen=True)
class SceneSpec:
    code: str
    name: str
    name_en: str
    sort: int


@dataclass(frozen=True)
class CategorySpec:
    code: str
    kind: str
    major_code: str
    major_name: str
    major_name_en: str
    minor_code: str
    name: str
    name_en: str
    scenes: tuple[str, ...]
    keywords: str
    default_urgency: str
    icon: str
    sort: int
    # (stage, urgency) -> (amount, unit), all eight pairs.
    limits: Mapping[tuple[str, str], tuple[Decimal, str]]

    def fields(self) -> dict[str, Any]:
        """The Category columns this spec sets."""
        return {
            "kind": self.kind,
            "major_code": self.major_code,
            "major_name": self.major_name,
            "major_name_en": self.major_name_en,
            "minor_code": self.minor_code,
            "name": self.name,
            "name_en": self.name_en,
            "keywords": self.keywords,
            "default_urgency": self.default_urgency,
            "icon": self.icon,
            "sort": self.sort,
        }


@dataclass(frozen=True)
class CatalogSpec:
    scenes: tuple[SceneSpec, ...]
    categories: tuple[CategorySpec, ...]


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class LoadSummary:
    """What one load did, per kind of row."""

    scenes: Counts = field(default_factory=Counts)
    categories: Counts = field(default_factory=Counts)
    limits: Counts = field(default_factory=Counts)

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in (self.scenes, self.categories, self.limits))

    def __str__(self) -> str:
        lines = []
        for label, counts in (
            (_("scenes"), self.scenes),
            (_("categories"), self.categories),
            (_("time limits"), self.limits),
        ):
            lines.append(
                _("%(label)s: %(created)d created, %(updated)d updated, %(unchanged)d unchanged")
                % {
                    "label": label,
                    "created": counts.created,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                }
            )
        return "\n".join(lines)


def read_catalog(path: str | Path | None = None) -> dict[str, Any]:
    """The JSON document at `path` (default: the shipped catalogue), amounts as Decimal."""
    text = Path(path or CATALOG_PATH).read_text(encoding="utf-8")
    # Decimal, not float: 0.17 must stay 0.17 on its way into a DecimalField.
    data = json.loads(text, parse_float=Decimal)
    if not isinstance(data, dict):
        raise CatalogError(["the document must be a JSON object"])
    return data


def parse_catalog(data: Mapping[str, Any]) -> CatalogSpec:
    """Validate `data` and return it normalised; raise CatalogError naming every problem."""
    problems: list[str] = []
    scenes = _parse_scenes(data.get("scenes"), problems)
    defaults = _parse_limits("default_limits", data.get("default_limits", {}), problems)
    scene_codes = {s.code for s in scenes}
    categories: list[CategorySpec] = []
    seen: set[str] = set()
    for key, kind, prefix in _KINDS:
        majors = data.get(key, [])
        if not isinstance(majors, list):
            problems.append(f"{key}: must be a list of major classes")
            continue
        for major in majors:
            categories.extend(
                _parse_major(
                    key,
                    kind,
                    prefix,
                    major,
                    defaults,
                    scene_codes,
                    seen,
                    problems,
                    start=len(categories),
                )
            )
    if not categories and not problems:
        problems.append("the document has no categories (expected 'events' and 'components')")
    if problems:
        raise CatalogError(problems)
    return CatalogSpec(scenes=tuple(scenes), categories=tuple(categories))


def load_catalog(
    data: Mapping[str, Any] | None = None,
    *,
    # Any: a migration passes historical model classes, which are not these classes.
    scene_model: Any = Scene,
    category_model: Any = Category,
    limit_model: Any = TimeLimit,
) -> LoadSummary:
    """Create or update scenes, categories and their time limits from `data`.

    `data` defaults to the shipped catalogue. The document is validated in full before
    anything is written (CatalogError otherwise), and everything is written in one
    transaction. Rows are matched by code; rows not in the document are left alone.
    """
    spec = parse_catalog(read_catalog() if data is None else data)
    summary = LoadSummary()
    with transaction.atomic():
        scenes = _load_scenes(spec.scenes, scene_model, summary.scenes)
        _load_categories(spec.categories, scenes, category_model, limit_model, summary)
    return summary


# --- validation -------------------------------------------------------------------------


def _text(
    where: str,
    item: Mapping[str, Any],
    key: str,
    problems: list[str],
    *,
    max_length: int,
    required: bool = True,
) -> str:
    value = item.get(key, "")
    if not isinstance(value, str):
        problems.append(f"{where}: {key} must be a string")
        return ""
    value = value.strip()
    if required and not value:
        problems.append(f"{where}: {key} is missing")
    elif len(value) > max_length:
        problems.append(f"{where}: {key} is longer than {max_length} characters")
    return value


def _parse_scenes(raw: Any, problems: list[str]) -> list[SceneSpec]:
    if not isinstance(raw, list) or not raw:
        problems.append("scenes: must be a non-empty list")
        return []
    scenes: list[SceneSpec] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            problems.append(f"scenes[{index}]: must be an object")
            continue
        code = item.get("code")
        where = f"scene {code!r}"
        if not isinstance(code, str) or not _SCENE_CODE.match(code) or len(code) > 32:
            problems.append(f"{where}: code must be a lowercase slug of at most 32 characters")
            continue
        if any(s.code == code for s in scenes):
            problems.append(f"{where}: listed twice")
            continue
        sort = item.get("sort", index)
        if not isinstance(sort, int) or isinstance(sort, bool) or not 0 <= sort <= 32767:
            problems.append(f"{where}: sort must be a whole number from 0 to 32767")
            sort = 0
        scenes.append(
            SceneSpec(
                code=code,
                name=_text(where, item, "name", problems, max_length=64),
                name_en=_text(where, item, "name_en", problems, max_length=64, required=False),
                sort=sort,
            )
        )
    return scenes


def _parse_amount(where: str, raw: Any, problems: list[str]) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        problems.append(f"{where}: amount {raw!r} is not a number")
        return None
    try:
        # str() first so a float 0.17 becomes Decimal("0.17"), not its binary expansion.
        amount = Decimal(str(raw))
    except InvalidOperation:
        problems.append(f"{where}: amount {raw!r} is not a number")
        return None
    if not amount.is_finite() or amount <= 0:
        problems.append(f"{where}: amount must be positive, got {raw}")
        return None
    if amount > _MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        problems.append(f"{where}: amount {raw} must be at most 9999.99 with two decimals")
        return None
    return amount


def _parse_limits(
    where: str, raw: Any, problems: list[str]
) -> dict[tuple[str, str], tuple[Decimal, str]]:
    """`{stage: {urgency: [amount, unit]}}` as a flat dict; problems name `where`."""
    limits: dict[tuple[str, str], tuple[Decimal, str]] = {}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: limits must be an object of stages")
        return limits
    for stage, by_urgency in raw.items():
        if stage not in Stage.values:
            problems.append(
                f"{where}: unknown stage {stage!r} (expected one of {', '.join(Stage.values)})"
            )
            continue
        if not isinstance(by_urgency, Mapping):
            problems.append(f"{where}: {stage} must be an object of urgencies")
            continue
        for urgency, pair in by_urgency.items():
            at = f"{where}: {stage}/{urgency}"
            if urgency not in Urgency.values:
                problems.append(
                    f"{where}: unknown urgency {urgency!r} for {stage} "
                    f"(expected one of {', '.join(Urgency.values)})"
                )
                continue
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                problems.append(f"{at}: must be [amount, unit], got {pair!r}")
                continue
            raw_amount, unit = pair
            amount = _parse_amount(at, raw_amount, problems)
            if unit not in TimeUnit.values:
                problems.append(
                    f"{at}: unknown time unit {unit!r} "
                    f"(expected one of {', '.join(TimeUnit.values)})"
                )
                continue
            if amount is not None:
                limits[(stage, urgency)] = (amount, unit)
    return limits


def _parse_major(
    key: str,
    kind: Kind,
    prefix: str,
    major: Any,
    defaults: Mapping[tuple[str, str], tuple[Decimal, str]],
    scene_codes: set[str],
    seen: set[str],
    problems: list[str],
    *,
    start: int,
) -> list[CategorySpec]:
    if not isinstance(major, Mapping):
        problems.append(f"{key}: every major class must be an object")
        return []
    major_code = major.get("major")
    where = f"{key} major class {major_code!r}"
    if not isinstance(major_code, str) or not _MAJOR_CODE.match(major_code):
        problems.append(f"{where}: major must be two digits")
        return []
    major_name = _text(where, major, "name", problems, max_length=64)
    major_name_en = _text(where, major, "name_en", problems, max_length=64, required=False)
    raw_categories = major.get("categories")
    if not isinstance(raw_categories, list):
        problems.append(f"{where}: categories must be a list")
        return []
    result: list[CategorySpec] = []
    for item in raw_categories:
        if not isinstance(item, Mapping):
            problems.append(f"{where}: every category must be an object")
            continue
        code = item.get("code")
        if not isinstance(code, str) or not _CATEGORY_CODE.match(code):
            problems.append(f"{where}: category code {code!r} is not like {prefix}{major_code}01")
            continue
        if not code.startswith(prefix + major_code):
            problems.append(
                f"{code}: code must start with {prefix}{major_code} "
                f"(kind {kind.value}, major class {major_code})"
            )
            continue
        if code in seen:
            problems.append(f"{code}: listed twice")
            continue
        seen.add(code)
        spec = _parse_category(code, item, defaults, scene_codes, problems)
        if spec is None:
            continue
        result.append(
            CategorySpec(
                code=code,
                kind=kind.value,
                major_code=major_code,
                major_name=major_name,
                major_name_en=major_name_en,
                minor_code=code[3:5],
                sort=start + len(result) + 1,
                **spec,
            )
        )
    return result


def _parse_category(
    code: str,
    item: Mapping[str, Any],
    defaults: Mapping[tuple[str, str], tuple[Decimal, str]],
    scene_codes: set[str],
    problems: list[str],
) -> dict[str, Any] | None:
    before = len(problems)
    name = _text(code, item, "name", problems, max_length=64)
    name_en = _text(code, item, "name_en", problems, max_length=100, required=False)

    scenes = item.get("scenes")
    if not isinstance(scenes, list) or not scenes:
        problems.append(f"{code}: scenes must be a non-empty list")
        scenes = []
    for scene in scenes:
        if not isinstance(scene, str) or scene not in scene_codes:
            problems.append(
                f"{code}: unknown scene {scene!r} "
                f"(the document's scenes are {', '.join(sorted(scene_codes))})"
            )

    urgency = item.get("urgency", Urgency.NORMAL.value)
    if urgency not in Urgency.values:
        problems.append(
            f"{code}: unknown urgency {urgency!r} (expected one of {', '.join(Urgency.values)})"
        )

    icon = item.get("icon", "")
    if not isinstance(icon, str) or (icon and not _ICON.match(icon)) or len(icon) > 32:
        problems.append(f"{code}: icon {icon!r} must be a short lowercase ASCII slug")

    keywords = item.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        problems.append(f"{code}: keywords must be a list of strings")
        keywords = []

    limits = dict(defaults)
    limits.update(_parse_limits(code, item.get("limits", {}), problems))
    missing = [
        f"{stage}/{urg}"
        for stage in Stage.values
        for urg in Urgency.values
        if (stage, urg) not in limits
    ]
    if missing:
        problems.append(f"{code}: no time limit for {', '.join(missing)}")

    if len(problems) > before:
        return None
    return {
        "name": name,
        "name_en": name_en,
        "scenes": tuple(dict.fromkeys(scenes)),
        "keywords": "\n".join(_unique(k.strip() for k in keywords if k.strip())),
        "default_urgency": urgency,
        "icon": icon,
        "limits": limits,
    }


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- writing ----------------------------------------------------------------------------


def _load_scenes(specs: Iterable[SceneSpec], scene_model: Any, counts: Counts) -> dict[str, Any]:
    existing = {scene.code: scene for scene in scene_model.objects.all()}
    for spec in specs:
        values = {"name": spec.name, "name_en": spec.name_en, "sort": spec.sort}
        scene = existing.get(spec.code)
        if scene is None:
            existing[spec.code] = scene_model.objects.create(code=spec.code, **values)
            counts.created += 1
        elif _assign(scene, values):
            scene.save(update_fields=list(values))
            counts.updated += 1
        else:
            counts.unchanged += 1
    return existing


def _load_categories(
    specs: Iterable[CategorySpec],
    scenes: Mapping[str, Any],
    category_model: Any,
    limit_model: Any,
    summary: LoadSummary,
) -> None:
    specs = list(specs)
    codes = [spec.code for spec in specs]
    existing = {
        category.code: category
        for category in category_model.objects.filter(code__in=codes).prefetch_related("scenes")
    }
    limits: dict[tuple[str, str, str], Any] = {
        (limit.category.code, limit.stage, limit.urgency): limit
        for limit in limit_model.objects.filter(category__code__in=codes).select_related("category")
    }
    new_limits: list[Any] = []
    for spec in specs:
        values = spec.fields()
        category = existing.get(spec.code)
        if category is None:
            category = category_model.objects.create(code=spec.code, **values)
            summary.categories.created += 1
            current_scenes: set[str] = set()
        else:
            current_scenes = {scene.code for scene in category.scenes.all()}
            if _assign(category, values):
                category.save(update_fields=list(values))
                summary.categories.updated += 1
            elif current_scenes == set(spec.scenes):
                summary.categories.unchanged += 1
            else:
                summary.categories.updated += 1
        if current_scenes != set(spec.scenes):
            category.scenes.set([scenes[code] for code in spec.scenes])

        for (stage, urgency), (amount, unit) in spec.limits.items():
            limit = limits.get((spec.code, stage, urgency))
            if limit is None:
                new_limits.append(
                    limit_model(
                        category=category, stage=stage, urgency=urgency, amount=amount, unit=unit
                    )
                )
                summary.limits.created += 1
            elif limit.amount != amount or limit.unit != unit:
                limit.amount, limit.unit = amount, unit
                limit.save(update_fields=["amount", "unit"])
                summary.limits.updated += 1
            else:
                summary.limits.unchanged += 1
    limit_model.objects.bulk_create(new_limits)


def _assign(obj: Any, values: Mapping[str, Any]) -> bool:
    """Set `values` on `obj`; whether anything differed."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed
