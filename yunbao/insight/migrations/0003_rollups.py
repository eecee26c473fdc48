"""The roll-ups (street; village and street × unit × source; district) in place of the full
key per village: filled from the grid rows already counted, so existing figures stay whole
without a recomputation. The (grain, day) indexes go: the unique key starts with them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import migrations, models

GRAIN_CHOICES = [
    (1, "Grid"),
    (3, "Street"),
    (4, "Village × unit × source"),
    (5, "Street × unit × source"),
    (6, "District"),
]
# The roll-ups this migration adds, as `yunbao.insight.store.CUBES` defined them then:
# (grain, level of the area column, dimensions kept, with duration rows).
NEW_CUBES = (
    (3, "street", {"unit", "scene", "category", "source"}, True),
    (4, "community", {"unit", "source"}, False),
    (5, "street", {"unit", "source"}, True),
    (6, "district", set(), True),
)
DIMS = ("unit", "scene", "category", "source")
KEY = ("day", "area", *DIMS)


def _ancestor(path: str, level: str, levels: dict[int, str]) -> str:
    ids = [int(p) for p in path.strip("/").split("/") if p]
    for index, pk in enumerate(ids):
        if levels.get(pk) == level:
            return "/" + "/".join(str(i) for i in ids[: index + 1]) + "/"
    return path


def _project(
    row: dict[str, Any], grain: int, level: str, keeps: set[str], levels: dict[int, str]
) -> tuple[Any, ...]:
    return (
        grain,
        row["day"],
        _ancestor(row["area"], level, levels),
        *(row[d] if d in keeps else ("" if d == "source" else 0) for d in DIMS),
    )


def fill(apps: Any, schema_editor: Any) -> None:
    Area = apps.get_model("geo", "Area")
    for name in ("Cell", "DurationCell"):
        apps.get_model("insight", name).objects.filter(grain=2).delete()
    levels = dict(Area.objects.values_list("pk", "level"))
    for name, extra, sums in (
        ("Cell", (), None),
        ("DurationCell", ("stage", "bucket"), ("n", "seconds")),
    ):
        model = apps.get_model("insight", name)
        measures = sums or tuple(
            f.name for f in model._meta.concrete_fields if f.name not in ("id", "grain", *KEY)
        )
        width = len(measures)
        totals: dict[tuple[Any, ...], list[int]] = defaultdict(lambda w=width: [0] * w)
        for row in model.objects.filter(grain=1).values(*KEY, *extra, *measures).iterator():
            for grain, level, keeps, with_durations in NEW_CUBES:
                if extra and not with_durations:
                    continue
                key = (*_project(row, grain, level, keeps, levels), *(row[e] for e in extra))
                into = totals[key]
                for i, m in enumerate(measures):
                    into[i] += row[m]
        names = ("grain", *KEY, *extra)
        model.objects.bulk_create(
            (
                model(
                    **dict(zip(names, key, strict=True)), **dict(zip(measures, values, strict=True))
                )
                for key, values in totals.items()
            ),
            batch_size=2000,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("insight", "0002_importedcase"),
        ("geo", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="cell", name="insight_cell_day"),
        migrations.RemoveIndex(model_name="durationcell", name="insight_duration_day"),
        migrations.AlterField(
            model_name="cell",
            name="grain",
            field=models.PositiveSmallIntegerField(choices=GRAIN_CHOICES, verbose_name="grain"),
        ),
        migrations.AlterField(
            model_name="durationcell",
            name="grain",
            field=models.PositiveSmallIntegerField(choices=GRAIN_CHOICES, verbose_name="grain"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
