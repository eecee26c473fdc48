"""Areas made by hand (path set directly) and two units, for the org tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from yunbao.geo.models import Area, Level
from yunbao.org.models import Unit, UnitKind
from yunbao.testing import square


@dataclass
class Place:
    district: Area
    street_a: Area
    street_b: Area
    grid_a: Area
    grid_b: Area
    unit: Unit
    other_unit: Unit


@pytest.fixture
def place(db: Any) -> Place:
    # Paths are written by hand (the geo actions that maintain them are not used here);
    # only their prefixes matter to the code under test.
    def area(level: str, code: str, path: str) -> Area:
        return Area.objects.create(
            level=level, code=code, name=code, geometry=square(23.0, 113.0, 0.01), path=path
        )

    unit = Unit.objects.create(code="clean-a", name="甲街环卫", kind=UnitKind.SANITATION)
    other_unit = Unit.objects.create(code="clean-b", name="乙街环卫", kind=UnitKind.SANITATION)
    return Place(
        district=area(Level.DISTRICT, "D", "/1/"),
        street_a=area(Level.STREET, "SA", "/1/2/"),
        street_b=area(Level.STREET, "SB", "/1/3/"),
        grid_a=area(Level.GRID, "GA", "/1/2/4/5/"),
        grid_b=area(Level.GRID, "GB", "/1/3/6/7/"),
        unit=unit,
        other_unit=other_unit,
    )
