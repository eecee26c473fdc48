"""Helpers shared by the geo tests."""

from __future__ import annotations

from yunbao.geo.models import Area

# The test town: 4 × 4 grids of 100 m in 2 × 2 communities, south-west corner here.
SOUTH, WEST = 22.52, 113.92


def grid_edges(town: Area) -> tuple[list[float], list[float]]:
    """The distinct latitudes and longitudes of the town's grid corners, ascending."""
    lats: set[float] = set()
    lons: set[float] = set()
    for geometry in Area.objects.filter(path__startswith=town.path, level="grid").values_list(
        "geometry", flat=True
    ):
        for lon, lat in geometry["coordinates"][0]:
            lats.add(lat)
            lons.add(lon)
    return sorted(lats), sorted(lons)
