"""The place picker's frame stays in step with the map `lib.svgmap` draws."""

from __future__ import annotations

import re

import pytest

from yunbao.community.mapping import village_maps

pytestmark = pytest.mark.django_db


def test_frame_projects_the_centre_where_the_map_draws_it(world):
    village = world.grid1.parent
    drawn = village_maps([village])[village.code]
    found = re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)"', drawn["svg"])
    assert found is not None
    cx, cy = map(float, found.groups())
    min_x, max_y, kx, pad, scale = drawn["frame"]
    assert ((village.center_lon - min_x) * kx + pad) * scale == pytest.approx(cx, abs=0.06)
    assert (max_y - village.center_lat + pad) * scale == pytest.approx(cy, abs=0.06)
    # And back: the tap at the marker is the centre again (what form.js computes).
    lat = max_y - (cy / scale - pad)
    lon = min_x + (cx / scale - pad) / kx
    assert (lat, lon) == (
        pytest.approx(village.center_lat, abs=1e-5),
        pytest.approx(village.center_lon, abs=1e-5),
    )
