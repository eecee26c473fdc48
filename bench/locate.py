"""Benchmark: point → grid lookups per second in a town of 10,000 grids of 100 m.

Builds the town with `yunbao.geo.synthetic.build_town`, then measures, in one run:

- single `locate()` calls on random points (the cached STRtree, one query per point);
- batched `locate_many()` calls of 1,000 points (one vectorised query per batch);
- a naive baseline on a smaller sample: loop over every grid polygon with shapely `covers`
  (what one would write without a spatial index),

and prints lookups/s for each with the ratios single/naive and batched/single.

    .venv/bin/python -m bench.locate            # throwaway SQLite database under var/
    .venv/bin/python -m bench.locate --smoke    # tiny town, few points

`run()` measures in whatever database Django is configured with (a test calls it with
`smoke=True` inside its test database).
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from bench.common import throwaway_database

# The town: 100 × 100 grids of 100 m (10 km × 10 km, the pilot's size) or a tiny one.
FULL = {
    "rows": 100,
    "cols": 100,
    "communities": (10, 10),
    "single": 20_000,
    "batched": 200_000,
    "batch": 1_000,
    "naive": 200,
}
SMOKE = {
    "rows": 6,
    "cols": 6,
    "communities": (2, 2),
    "single": 200,
    "batched": 1_000,
    "batch": 100,
    "naive": 20,
}
SOUTH, WEST = 23.26, 113.17


def _points(
    rng: random.Random, count: int, bounds: tuple[float, float, float, float]
) -> list[tuple[float, float]]:
    """Random points over the town's box and a margin around it (about 1 in 6 outside)."""
    south, west, north, east = bounds
    margin_lat, margin_lon = (north - south) * 0.05, (east - west) * 0.05
    return [
        (
            rng.uniform(south - margin_lat, north + margin_lat),
            rng.uniform(west - margin_lon, east + margin_lon),
        )
        for _ in range(count)
    ]


def run(smoke: bool = False) -> dict[str, float]:
    """Build the town in the configured database, measure, print and return the figures."""
    from shapely import Point
    from shapely.geometry import shape

    from yunbao.geo.locate import OutsideDistrict, invalidate_cache, locate, locate_many
    from yunbao.geo.models import Area, Level
    from yunbao.geo.synthetic import build_district, build_town

    size: dict[str, Any] = SMOKE if smoke else FULL
    rng = random.Random(808)

    started = time.perf_counter()
    district = build_district(
        "990100",
        "基准区",
        "Bench District",
        "bench.yunbao.org",
        (SOUTH - 0.1, WEST - 0.1, SOUTH + 0.2, WEST + 0.2),
    )
    town = build_town(
        district=district,
        code="990100001",
        name="基准镇",
        name_en="Bench Town",
        south=SOUTH,
        west=WEST,
        rows=size["rows"],
        cols=size["cols"],
        cell_m=100,
        communities=size["communities"],
    )
    build_seconds = time.perf_counter() - started
    grids = Area.objects.filter(level=Level.GRID, path__startswith=town.path).count()
    bounds = (town.min_lat, town.min_lon, town.max_lat, town.max_lon)

    invalidate_cache()
    started = time.perf_counter()
    locate(town.center_lat, town.center_lon)  # the first lookup builds the index
    index_seconds = time.perf_counter() - started

    points = _points(rng, size["single"], bounds)
    found = 0
    started = time.perf_counter()
    for lat, lon in points:
        try:
            locate(lat, lon)
            found += 1
        except OutsideDistrict:
            pass
    single = len(points) / (time.perf_counter() - started)

    points = _points(rng, size["batched"], bounds)
    step = size["batch"]
    started = time.perf_counter()
    for start in range(0, len(points), step):
        locate_many(points[start : start + step])
    batched = len(points) / (time.perf_counter() - started)

    # The baseline: every grid polygon tested in turn, smallest code first like locate().
    polygons = [
        (code, shape(geometry))
        for code, geometry in Area.objects.filter(level=Level.GRID)
        .order_by("code")
        .values_list("code", "geometry")
    ]
    points = _points(rng, size["naive"], bounds)
    naive_found: list[str | None] = []
    started = time.perf_counter()
    for lat, lon in points:
        point = Point(lon, lat)
        naive_found.append(next((code for code, poly in polygons if poly.covers(point)), None))
    naive = len(points) / (time.perf_counter() - started)
    # The figures mean nothing unless the fast paths give the baseline's answers.
    indexed = [loc.grid.code if loc else None for loc in locate_many(points)]
    if indexed != naive_found:
        raise AssertionError("locate_many disagrees with the naive baseline")

    figures = {
        "grids": float(grids),
        "build_seconds": round(build_seconds, 3),
        "index_build_seconds": round(index_seconds, 3),
        "single_per_s": round(single),
        "batched_per_s": round(batched),
        "naive_per_s": round(naive, 1),
        "single_vs_naive": round(single / naive, 1),
        "batched_vs_single": round(batched / single, 1),
        "share_inside": round(found / size["single"], 3),
    }
    print(
        f"town of {grids} grids built in {build_seconds:.2f} s; "
        f"index built in {index_seconds:.3f} s"
    )
    print(f"single locate():           {single:>12,.0f} lookups/s")
    print(f"locate_many(), {step:>5} per call: {batched:>9,.0f} lookups/s")
    print(f"naive loop over polygons:  {naive:>12,.1f} lookups/s")
    print(f"single / naive:  {single / naive:>8.1f}×")
    print(f"batched / single: {batched / single:>7.1f}×")
    return {k: float(v) for k, v in figures.items()}


def main() -> None:
    """Run in a throwaway SQLite database under var/, deleted afterwards."""
    with throwaway_database("locate"):
        run(smoke="--smoke" in sys.argv[1:])


if __name__ == "__main__":
    main()
