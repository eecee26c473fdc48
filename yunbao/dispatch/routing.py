"""Routing: which unit is responsible for a category of problem in an area.

A `RoutingRule` names a unit for a category (or a category group, or any category) in an
area (or the whole district). A rule matches an order of category C in area A when

- its category is C, or it has no category and its group is C's "kind:major" (e.g.
  "event:05"), or it has neither (any category); and
- it has no area, or its area contains A (A's materialised path starts with the rule area's).

The most specific matching rule wins: the deeper area first (a grid rule beats a community
rule beats a street rule beats a district-wide one), then the exact category over the group
over any category. Two rules equally specific are a configuration mistake; the lowest id
wins so every process answers the same, and the route reports the tie.

Rules change a few times a month and every decision reads them, so each process keeps the
active rules (of active units) in memory for `TTL` seconds, indexed by (area path, category
key): a lookup is a handful of dict probes, no query. Saving or deleting a rule through the
ORM clears this process's copy at once; other processes see the change within `TTL`.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from yunbao.catalog.models import Category
from yunbao.dispatch.models import RoutingRule
from yunbao.geo.models import Area
from yunbao.org.models import Unit

__all__ = ["TTL", "Match", "Route", "category_group", "clear", "matching_rules", "route"]

TTL = 30.0

# Category specificity, best last: a rule for the category beats one for its group beats
# one for any category.
ANY, GROUP, EXACT = 0, 1, 2
_KIND_NAMES = {ANY: "any", GROUP: "group", EXACT: "category"}

# The index key of a rule's category side.
_CategoryKey = tuple[str, Any]


def category_group(category: Category) -> str:
    """The group a category belongs to, as rules write it: "kind:major" ("event:05")."""
    return f"{category.kind}:{category.major_code}"


@dataclass(frozen=True)
class Match:
    """A rule that matches, and how specific it is."""

    rule: RoutingRule
    # How many levels deep the rule's area is (0: no area, the whole district).
    depth: int
    # ANY, GROUP or EXACT.
    category_rank: int

    @property
    def specificity(self) -> tuple[int, int]:
        return (self.depth, self.category_rank)

    @property
    def sort_key(self) -> tuple[int, int, int]:
        # Most specific first; among equals the lowest id, so the answer is deterministic.
        return (-self.depth, -self.category_rank, self.rule.pk)

    def describe(self) -> dict[str, Any]:
        """Machine-readable: the rule and why it matches (stored in decisions)."""
        rule = self.rule
        return {
            "id": rule.pk,
            "rule": str(rule),
            "unit": rule.unit.code,
            "area": rule.area.code if rule.area is not None else None,
            "area_depth": self.depth,
            "category": _KIND_NAMES[self.category_rank],
        }


@dataclass(frozen=True)
class Route:
    """The chosen rule and unit (both None when no rule matches), why, and every match."""

    rule: RoutingRule | None
    unit: Unit | None
    reasons: dict[str, Any]
    # Every matching rule, most specific first: the chosen one, then the ones it beat.
    matches: list[Match] = field(default_factory=list)


@dataclass
class _Rules:
    # (area path or "" for no area, category key) → rules, ordered by id.
    index: dict[tuple[str, _CategoryKey], list[RoutingRule]]
    loaded_at: float


_lock = threading.Lock()
_rules: _Rules | None = None
# Bumped by every clear(), so rules read before a change are not kept after it.
_generation = 0


def clear() -> None:
    """Forget this process's rules; the next lookup reads them again."""
    global _rules, _generation
    with _lock:
        _rules = None
        _generation += 1


@receiver(post_save, sender=RoutingRule, dispatch_uid="dispatch-routing-saved")
@receiver(post_delete, sender=RoutingRule, dispatch_uid="dispatch-routing-deleted")
def _rule_changed(**kwargs: Any) -> None:
    clear()


def _category_key(rule: RoutingRule) -> _CategoryKey:
    if rule.category_id is not None:
        return ("c", rule.category_id)
    if rule.category_group:
        return ("g", rule.category_group.strip())
    return ("*", None)


def _load() -> _Rules:
    global _rules
    now = time.monotonic()
    current = _rules
    if current is not None and now - current.loaded_at < TTL:
        return current
    generation = _generation
    rows = (
        RoutingRule.objects.filter(active=True, unit__active=True)
        .select_related("unit", "area", "category")
        .order_by("pk")
    )
    index: dict[tuple[str, _CategoryKey], list[RoutingRule]] = defaultdict(list)
    for rule in rows:
        index[(rule.area.path if rule.area is not None else "", _category_key(rule))].append(rule)
    loaded = _Rules(dict(index), now)
    with _lock:
        if generation == _generation:
            _rules = loaded
    return loaded


def _prefixes(path: str) -> list[str]:
    """ "/1/7/42/" → ["", "/1/", "/1/7/", "/1/7/42/"]: the paths of every enclosing area."""
    parts = [p for p in path.strip("/").split("/") if p]
    return ["", *("/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts)))]


def matching_rules(category: Category | None, area: Area) -> list[Match]:
    """Every active rule that matches, most specific first (ties by lowest id)."""
    index = _load().index
    keys: list[tuple[int, _CategoryKey]] = [(ANY, ("*", None))]
    if category is not None:
        keys += [(GROUP, ("g", category_group(category))), (EXACT, ("c", category.pk))]
    matches = []
    for depth, prefix in enumerate(_prefixes(area.path)):
        for rank, key in keys:
            for rule in index.get((prefix, key), ()):
                matches.append(Match(rule, depth, rank))
    matches.sort(key=lambda m: m.sort_key)
    return matches


def route(category: Category | None, area: Area) -> Route:
    """The responsible unit for `category` (None: not known yet) in `area` (a grid, usually)."""
    matches = matching_rules(category, area)
    if not matches:
        return Route(None, None, {"rule": None, "matched": 0}, [])
    best = matches[0]
    reasons: dict[str, Any] = {"rule": best.describe(), "matched": len(matches)}
    tied = [m.rule.pk for m in matches if m.specificity == best.specificity]
    if len(tied) > 1:
        # Two rules say different things with equal right: the lowest id wins, and the
        # decision says so, so someone can fix the rules.
        reasons["tie"] = tied
    return Route(best.rule, best.rule.unit, reasons, matches)
