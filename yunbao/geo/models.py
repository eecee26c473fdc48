"""The area hierarchy: district → street/town → community/village → grid (单元网格).

Polygons are stored as GeoJSON geometry (WGS-84, lon/lat order as GeoJSON requires) so the
embedded SQLite default needs no spatial extension; shapely does the geometry in Python and
`yunbao.geo.locate` keeps an STRtree over the grids.

Each area keeps a materialised `path` ("/1/7/42/") of its ancestors' ids so "everything in
this street" is one indexed prefix query on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    DISTRICT = "district", _("District")
    STREET = "street", _("Street / town")
    COMMUNITY = "community", _("Community / village")
    GRID = "grid", _("Grid")


# Parent level of each level; the district is the root.
PARENT_LEVEL: dict[str, str | None] = {
    Level.DISTRICT: None,
    Level.STREET: Level.DISTRICT,
    Level.COMMUNITY: Level.STREET,
    Level.GRID: Level.COMMUNITY,
}


class Area(models.Model):
    level = models.CharField(_("level"), max_length=16, choices=Level.choices, db_index=True)
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(_("path"), max_length=255, db_index=True, editable=False, default="")
    geometry = models.JSONField(_("geometry (GeoJSON)"))
    # Representative point and bounding box, derived from the geometry on write.
    center_lat = models.FloatField(_("centre latitude"), default=0)
    center_lon = models.FloatField(_("centre longitude"), default=0)
    min_lat = models.FloatField(default=0, editable=False)
    min_lon = models.FloatField(default=0, editable=False)
    max_lat = models.FloatField(default=0, editable=False)
    max_lon = models.FloatField(default=0, editable=False)
    # An Open311 jurisdiction id for a district (e.g. "demo.yunbao.org").
    jurisdiction_id = models.CharField(_("jurisdiction id"), max_length=100, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["path"]
        indexes = [models.Index(fields=["level", "parent"])]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.name_en and (get_language() or "").startswith("en"):
            return self.name_en
        return self.name

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this area, read from the path."""
        return [int(p) for p in self.path.strip("/").split("/") if p]

    def ancestors(self) -> list[Area]:
        """Root first, this area last."""
        ids = self.ancestor_ids()
        by_id = Area.objects.in_bulk(ids)
        return [by_id[i] for i in ids if i in by_id]

    def contains_area(self, other: Area) -> bool:
        return other.path.startswith(self.path)

    def geojson_feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": self.geometry,
            "properties": {"code": self.code, "name": self.name, "level": self.level},
        }
