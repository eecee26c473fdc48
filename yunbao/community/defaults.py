"""The shipped point rules and levels, written by the community migration and by the test
world (a transactional test's flush empties the tables the migration filled)."""

from __future__ import annotations

from typing import Any

# (kind, points, daily cap): a valid report 10 (at most 50 a day), a confirmed "me too" 2
# (at most 10 a day), an hour of volunteering 5 (at most 40 a day).
RULES = [("report", 10, 50), ("me_too", 2, 10), ("volunteer", 5, 40)]
LEVELS = [
    ("新芽居民", "Sprout", 0),
    ("热心居民", "Helping hand", 50),
    ("社区观察员", "Street watcher", 200),
    ("共治达人", "Co-governance expert", 500),
    ("社区之星", "Community star", 1000),
]


def seed(rule_model: Any, level_model: Any) -> None:
    """Create the rules and levels that are missing; existing (admin-edited) rows stay."""
    for kind, points, cap in RULES:
        rule_model.objects.get_or_create(kind=kind, defaults={"points": points, "daily_cap": cap})
    for name, name_en, minimum in LEVELS:
        level_model.objects.get_or_create(
            min_points=minimum, defaults={"name": name, "name_en": name_en}
        )
