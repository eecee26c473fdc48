"""Tests of the area admin: it lists and searches, and saves and deletes through actions."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from yunbao.geo.locate import locate
from yunbao.geo.models import Area, Level
from yunbao.geo.synthetic import box_geojson

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_root(settings, tmp_path):
    # WhiteNoise warns (an error here) when STATIC_ROOT does not exist, as on a fresh checkout.
    settings.STATIC_ROOT = tmp_path


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def _form(**values):
    data = {
        "level": Level.DISTRICT,
        "code": "D1",
        "name": "云报区",
        "name_en": "",
        "parent": "",
        "geometry": json.dumps(box_geojson(22.0, 113.0, 23.0, 114.0)),
        "jurisdiction_id": "",
    }
    data.update(values)
    return data


def test_it_lists_and_searches_areas(admin_client, town):
    url = reverse("admin:geo_area_changelist")
    response = admin_client.get(url, {"q": "4403990010010001"})
    assert response.status_code == 200
    assert "4403990010010001" in response.content.decode()
    response = admin_client.get(url, {"level__exact": "community"})
    assert response.status_code == 200
    assert "440399001004" in response.content.decode()


def test_it_creates_an_area_through_the_actions(admin_client):
    response = admin_client.post(reverse("admin:geo_area_add"), _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    area = Area.objects.get(code="D1")
    assert area.path == f"/{area.pk}/"
    assert (area.min_lat, area.max_lon) == (22.0, 114.0)
    assert 22.0 < area.center_lat < 23.0


def test_it_shows_geometry_and_parent_mistakes_as_form_errors(admin_client):
    response = admin_client.post(reverse("admin:geo_area_add"), _form(geometry=json.dumps(BOWTIE)))
    assert response.status_code == 200
    assert "Self-intersection" in response.content.decode()
    response = admin_client.post(reverse("admin:geo_area_add"), _form(level=Level.GRID))
    assert response.status_code == 200
    assert Area.objects.count() == 0


def test_it_updates_an_area_and_the_locate_cache(admin_client, town):
    grid = Area.objects.get(code="4403990010010001")
    url = reverse("admin:geo_area_change", args=[grid.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert grid.path in page.content.decode()
    moved = box_geojson(22.70, 113.70, 22.71, 113.71)
    response = admin_client.post(
        url,
        {
            "code": grid.code,
            "name": "改名",
            "name_en": grid.name_en,
            "parent": grid.parent_id,
            "geometry": json.dumps(moved),
            "jurisdiction_id": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grid.refresh_from_db()
    assert grid.name == "改名"
    assert (grid.min_lat, grid.min_lon) == (22.70, 113.70)
    assert grid.level == Level.GRID
    assert locate(22.705, 113.705).grid.pk == grid.pk


def test_it_deletes_through_the_actions(admin_client, town):
    grid = Area.objects.get(code="4403990010010001")
    response = admin_client.post(reverse("admin:geo_area_delete", args=[grid.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Area.objects.filter(pk=grid.pk).exists()
