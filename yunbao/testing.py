"""A small named world for tests and benchmarks (the healthchecks way).

Two streets, each with one community and grids; a unit serving each street; and people:
Alice dispatches and Carol supervises in street one, Bob and Bill work for unit one, Walt
for unit two, Dave manages the district, Erin and Emma are residents, Fay inspects street
one, Olga dispatches in street two and must see nothing of street one, Oscar is an
organiser, Ada an administrator.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SQUARE = 0.001  # about 100 m


def square(south: float, west: float, size: float = SQUARE) -> dict[str, Any]:
    """A GeoJSON square `size` degrees wide with its south-west corner at (south, west)."""
    from yunbao.geo.synthetic import box_geojson

    return box_geojson(south, west, south + size, west + size)


@dataclass
class World:
    district: Any
    street1: Any
    street2: Any
    grid1: Any
    grid1b: Any
    grid2: Any
    unit1: Any
    unit2: Any
    category: Any
    users: dict[str, Any]

    def point1(self) -> tuple[float, float]:
        """A point inside grid1 (street one)."""
        return 23.0005, 113.0005

    def point2(self) -> tuple[float, float]:
        """A point inside grid2 (street two)."""
        return 23.0005, 113.0105


def build_world() -> World:
    """Create the world in the current database."""
    from yunbao.catalog.models import Category, Kind, Scene, Stage, TimeLimit, TimeUnit, Urgency
    from yunbao.community.defaults import seed as seed_community
    from yunbao.community.models import Level as CommunityLevel
    from yunbao.community.models import PointRule
    from yunbao.geo.actions import create_area
    from yunbao.geo.models import Level
    from yunbao.org.actions import create_staff
    from yunbao.org.models import Role, Unit, UnitKind

    district = create_area(
        level=Level.DISTRICT, code="T00", name="测试区", geometry=square(22.99, 112.99, 0.05)
    )
    street1 = create_area(
        level=Level.STREET,
        code="T01",
        name="一街",
        parent=district,
        geometry=square(23.0, 113.0, 0.002),
    )
    street2 = create_area(
        level=Level.STREET,
        code="T02",
        name="二街",
        parent=district,
        geometry=square(23.0, 113.01, 0.002),
    )
    comm1 = create_area(
        level=Level.COMMUNITY,
        code="T0101",
        name="一村",
        parent=street1,
        geometry=square(23.0, 113.0, 0.002),
    )
    comm2 = create_area(
        level=Level.COMMUNITY,
        code="T0201",
        name="二村",
        parent=street2,
        geometry=square(23.0, 113.01, 0.002),
    )
    grid1 = create_area(
        level=Level.GRID, code="T010101", name="一格", parent=comm1, geometry=square(23.0, 113.0)
    )
    grid1b = create_area(
        level=Level.GRID,
        code="T010102",
        name="一格乙",
        parent=comm1,
        geometry=square(23.0, 113.001),
    )
    grid2 = create_area(
        level=Level.GRID, code="T020101", name="二格", parent=comm2, geometry=square(23.0, 113.01)
    )

    scene, _ = Scene.objects.get_or_create(code="test", defaults={"name": "测试"})
    category = Category.objects.create(
        code="E9901",
        kind=Kind.EVENT,
        major_code="99",
        major_name="测试",
        minor_code="01",
        name="测试垃圾",
        name_en="Test litter",
    )
    category.scenes.add(scene)
    for stage in Stage.values:
        for urgency in Urgency.values:
            TimeLimit.objects.create(
                category=category,
                stage=stage,
                urgency=urgency,
                amount=Decimal(2),
                unit=TimeUnit.NATURAL_HOURS,
            )

    # What migrations seed is gone after a transactional test's flush; the world puts back
    # the shipped point rules and levels (a no-op when they are still there).
    seed_community(PointRule, CommunityLevel)

    unit1 = Unit.objects.create(code="u1", name="一街环卫", kind=UnitKind.SANITATION)
    unit1.areas.add(street1)
    unit2 = Unit.objects.create(code="u2", name="二街环卫", kind=UnitKind.SANITATION)
    unit2.areas.add(street2)

    def staff(name: str, roles: list[str], **kw: Any) -> Any:
        return create_staff(username=name, password="pw-" + name, roles=roles, **kw)

    users = {
        "alice": staff("alice", [Role.DISPATCHER], areas=[street1]),
        "bob": staff("bob", [Role.WORKER], unit=unit1, areas=[street1]),
        "bill": staff("bill", [Role.WORKER], unit=unit1, areas=[street1]),
        "walt": staff("walt", [Role.WORKER], unit=unit2, areas=[street2]),
        "carol": staff("carol", [Role.SUPERVISOR], unit=unit1, areas=[street1]),
        "dave": staff("dave", [Role.MANAGER], areas=[district]),
        "erin": staff("erin", [Role.RESIDENT]),
        "emma": staff("emma", [Role.RESIDENT]),
        "fay": staff("fay", [Role.INSPECTOR], areas=[street1]),
        "olga": staff("olga", [Role.DISPATCHER], areas=[street2]),
        "oscar": staff("oscar", [Role.ORGANISER]),
        "ada": staff("ada", [Role.ADMIN]),
    }
    return World(district, street1, street2, grid1, grid1b, grid2, unit1, unit2, category, users)


def stored_photo(colour: str = "green") -> Any:
    """A small JPEG saved to the default storage, as intake's pipeline leaves it: the
    proof a worker attaches when finishing."""
    import io

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    from yunbao.workorders.actions import PhotoInput

    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, "JPEG")
    name = default_storage.save("photos/test/after.jpg", ContentFile(buffer.getvalue()))
    return PhotoInput(image=name, width=32, height=24)
