"""The fleet simulator: vehicles keep to the streets (the grids' edges) at plausible speeds,
and drive real JT/T 808 and OsmAnd traffic through a running gateway."""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import translation

from yunbao.fleet.gateway import new_event_loop
from yunbao.fleet.models import Device, Position, Protocol
from yunbao.fleet.simulate import (
    SimulationConfig,
    Streets,
    Summary,
    Vehicle,
    demo_streets,
    simulate,
)
from yunbao.fleet.tests.test_gateway import running_gateway
from yunbao.geo.synthetic import build_district, build_town, metres_per_degree

STREETS = Streets("T", (23.0, 23.001, 23.002, 23.003), (113.0, 113.001, 113.002))


def on_a_street(streets: Streets, lat: float, lon: float, tolerance: float = 1e-9) -> bool:
    return any(math.isclose(lat, x, abs_tol=tolerance) for x in streets.lats) or any(
        math.isclose(lon, y, abs_tol=tolerance) for y in streets.lons
    )


def test_vehicles_keep_to_the_streets_at_their_speed() -> None:
    per_lat, per_lon = metres_per_degree(23.0)
    for seed in range(20):
        vehicle = Vehicle(STREETS, random.Random(seed), 36.0)
        lat, lon = vehicle.position()
        for _step in range(200):
            vehicle.advance(1.0)
            new_lat, new_lon = vehicle.position()
            assert on_a_street(STREETS, new_lat, new_lon)
            assert STREETS.lats[0] <= new_lat <= STREETS.lats[-1]
            assert STREETS.lons[0] <= new_lon <= STREETS.lons[-1]
            # 36 km/h is 10 m a second; never more (a turn at a crossing makes it less).
            moved = math.hypot((new_lat - lat) * per_lat, (new_lon - lon) * per_lon)
            assert moved <= 10.0 + 1e-6
            assert vehicle.course in (0, 90, 180, 270)
            lat, lon = new_lat, new_lon
    assert vehicle.odometer_km > 0


def test_vehicles_stop_now_and_then_and_go_on() -> None:
    vehicle = Vehicle(STREETS, random.Random(1), 30.0)
    speeds = []
    for _step in range(2000):
        vehicle.advance(1.0)
        speeds.append(vehicle.speed_kmh)
    assert 0.0 in speeds
    assert 30.0 in speeds


@pytest.mark.django_db
def test_streets_are_the_demo_towns_or_the_grids_in_the_database() -> None:
    from yunbao.web.demo import TOWNS

    fallback = demo_streets()
    assert [town.name for town in fallback] == [town[0] for town in TOWNS]
    _code, _zh, _en, south, west, rows, cols, *_rest = TOWNS[0]
    assert len(fallback[0].lats) == rows + 1
    assert len(fallback[0].lons) == cols + 1
    assert fallback[0].lats[0] == south
    assert fallback[0].lons[0] == west

    district = build_district("D1", "区", "District", "d1.example", (22.9, 112.9, 23.1, 113.1))
    build_town(
        district=district,
        code="S1",
        name="街",
        name_en="S",
        south=23.0,
        west=113.0,
        rows=3,
        cols=2,
        communities=(1, 1),
    )
    towns = demo_streets()
    assert [town.name for town in towns] == ["S1"]
    assert len(towns[0].lats) == 4
    assert len(towns[0].lons) == 3
    assert towns[0].lats[0] == 23.0
    assert towns[0].lons[0] == 113.0


def run(config: SimulationConfig) -> Summary:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(simulate(config, [STREETS]))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("protocol", "version"), [("jt808", 2013), ("jt808", 2019), ("osmand", 2013)]
)
def test_a_simulated_fleet_reports_through_the_gateway(protocol: str, version: int) -> None:
    with running_gateway(unknown_devices="register") as gateway:
        port = gateway.jt808_port if protocol == "jt808" else gateway.osmand_port
        summary = run(
            SimulationConfig(
                port=port,
                protocol=protocol,
                devices=3,
                rate=5,
                duration=1.5,
                version=version,
                progress_seconds=0.5,
            )
        )

    assert summary.errors == 0
    assert summary.refused == 0
    assert summary.acked >= 3 * 4
    assert summary.sent >= summary.acked
    p50 = summary.percentile(0.5)
    assert p50 is not None
    assert p50 > 0
    # Everything acknowledged is in the table, on the streets.
    rows = list(Position.objects.all())
    assert len(rows) >= summary.acked
    # (JT/T 808 carries 1e-6 degree.)
    assert all(on_a_street(STREETS, r.lat, r.lon, tolerance=1e-6) for r in rows)
    assert Device.objects.filter(protocol=Protocol(protocol)).count() == 3


@pytest.mark.django_db(transaction=True)
def test_refused_devices_stop_and_are_counted() -> None:
    with running_gateway(unknown_devices="refuse") as gateway:
        summary = run(SimulationConfig(port=gateway.jt808_port, devices=2, rate=5, duration=1.0))

    assert summary.refused == 2
    assert summary.acked == 0
    assert not Position.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    with running_gateway(unknown_devices="register") as gateway, translation.override("en"):
        call_command(
            "simulate_fleet",
            "--devices",
            "2",
            "--rate",
            "4",
            "--duration",
            "1",
            "--port",
            str(gateway.jt808_port),
            "--version",
            "2019",
        )
    out = capsys.readouterr().out
    assert "Simulating 2 vehicles" in out
    assert "acknowledged" in out
    assert Position.objects.count() >= 4


def test_the_benchmark_runs_end_to_end_in_miniature() -> None:
    """A tiny run of `bench/fleet.py` on SQLite: it works and every ack is in the table
    (no timing is asserted)."""
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fleet",
            "--database",
            "sqlite",
            "--devices",
            "4",
            "--seconds",
            "0.5",
            "--warmup",
            "0.2",
            "--idle-connections",
            "3",
            "--raw-rows",
            "200",
            "--ring",
            "64",
            "--batch-size",
            "3",
            "--rate",
            "5",
            "--json",
        ],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    results = json.loads(out.strip().splitlines()[-1])

    assert results["database"] == "sqlite"
    assert results["memory"]["idle_connections"] == 3
    for mode in ("single", "paced", "batch"):
        assert results[mode]["authenticated"] == 4
        assert results[mode]["acked"] > 0
        assert results[mode]["errors"] == 0
        assert results[mode]["every_ack_stored"] is True
        assert results[mode]["rows_in_table"] >= results[mode]["total_acked"]
    for key in ("small", "large", "positions_only"):
        assert results["raw"][key]["rows"] >= 200
        assert results["raw"][key]["rows_per_s"] > 0
    assert results["ratio_single"] > 0
