"""The public page: nothing personal in its HTML or JSON, places coarsened to H3 cell
centres, only publishable orders, the figures equal to the indicators engine's, anonymous
access, caching headers, rate limiting and clear refusals of bad parameters."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from typing import Any

import h3
import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from yunbao.api import throttle
from yunbao.geo.actions import create_area
from yunbao.geo.models import Level
from yunbao.insight import indicators, public
from yunbao.insight.indicators import Filter
from yunbao.insight.store import catch_up
from yunbao.org.actions import create_staff
from yunbao.org.models import Role
from yunbao.testing import World, square, stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder

NAME = "ZQ-Reporter-Name-5521"
PHONE = "13987654321"
DESCRIPTION = "DESC-SECRET-4242 住在幸福路88号3栋"
ADDRESS = "ADDR-SECRET-7310"
COMMENT = "RATING-COMMENT-SECRET-1187"
NOTE = "HANDLING-NOTE-SECRET-6642"
WORKER = "WORKER-Display-Name-3391"
# Inside grid1 (23.000–23.001 N, 113.000–113.001 E), with digits nothing else has.
EXACT = [(23.000437, 113.000613), (23.000791, 113.000287), (23.000123, 113.000959)]
REJECTED = (23.000555, 113.000444)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    caches["default"].clear()
    caches["api-rate"].clear()
    yield
    caches["default"].clear()
    caches["api-rate"].clear()


def _submit(world: World, lat: float, lon: float, when: dt.datetime, **kw: Any) -> WorkOrder:
    return actions.submit(
        actor=world.users["erin"],
        lat=lat,
        lon=lon,
        description=DESCRIPTION,
        address=ADDRESS,
        reporter_name=NAME,
        reporter_phone=PHONE,
        category=world.category,
        at=when,
        **kw,
    )


def _close(world: World, order: WorkOrder, worker: Any, when: dt.datetime) -> None:
    u = world.users
    actions.accept(order, actor=u["alice"], at=when + dt.timedelta(minutes=5))
    actions.dispatch(
        order, actor=u["alice"], unit=world.unit1, worker=worker, at=when + dt.timedelta(minutes=9)
    )
    actions.start(order, actor=worker, at=when + dt.timedelta(minutes=20))
    actions.finish(
        order, actor=worker, note=NOTE, photos=[stored_photo()], at=when + dt.timedelta(minutes=50)
    )
    actions.verify(order, actor=u["carol"], at=when + dt.timedelta(minutes=70))
    actions.rate(
        order,
        actor=u["erin"],
        rating=5,
        comment=COMMENT,
        at=when + dt.timedelta(minutes=90),
    )


@pytest.fixture
def made(world: World) -> dict[str, Any]:
    """In street one: a closed and rated report, an open one, one being handled, a rejected
    one, a voided one and a merged one; in street two an open one. All in the last few
    days, all with the distinctive personal data above. Aggregates counted."""
    now = timezone.now()
    worker = create_staff(
        username="w3391",
        password="pw-w3391",
        roles=[Role.WORKER],
        unit=world.unit1,
        areas=[world.street1],
        display_name=WORKER,
    )
    u = world.users
    day = now - dt.timedelta(days=2)
    closed = _submit(world, *EXACT[0], day)
    _close(world, closed, worker, day)
    fresh = _submit(world, *EXACT[1], now - dt.timedelta(hours=3))
    working = _submit(world, *EXACT[2], now - dt.timedelta(hours=6))
    actions.accept(working, actor=u["alice"], at=now - dt.timedelta(hours=5))
    rejected = _submit(world, *REJECTED, now - dt.timedelta(hours=8))
    actions.reject(
        rejected, actor=u["alice"], note="不属于受理范围", at=now - dt.timedelta(hours=7)
    )
    voided = _submit(world, 23.000666, 113.000333, now - dt.timedelta(hours=9))
    actions.void(voided, actor=u["carol"], note="误报", at=now - dt.timedelta(hours=8))
    merged = _submit(world, 23.000444, 113.000612, now - dt.timedelta(hours=2))
    actions.merge(merged, actor=u["alice"], into=fresh, at=now - dt.timedelta(hours=1))
    lat2, lon2 = world.point2()
    other = _submit(world, lat2 + 0.000123, lon2 + 0.000321, now - dt.timedelta(hours=4))
    catch_up()
    return {
        "closed": closed,
        "fresh": fresh,
        "working": working,
        "rejected": rejected,
        "voided": voided,
        "merged": merged,
        "other": other,
        "worker": worker,
    }


def _get(client: Client, name: str, **params: str) -> Any:
    return client.get(reverse(name), params)


def _map(client: Client, **params: str) -> dict[str, Any]:
    response = _get(client, "public:map", **params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = (a[0] - b[0]) * 111_320
    dlon = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(dlat, dlon)


# --- No personal data -----------------------------------------------------------------------


def _assert_nothing_personal(text: str, made: dict[str, Any]) -> None:
    for secret in (NAME, PHONE, "DESC-SECRET", "幸福路", ADDRESS, COMMENT, NOTE, WORKER):
        assert secret not in text, secret
    for name in ("erin", "alice", "carol", "w3391"):
        assert f'"{name}"' not in text, name
        assert f">{name}<" not in text, name
    for order in made.values():
        if isinstance(order, WorkOrder):
            assert order.number not in text, order.number
    # No exact coordinate of any order (they have 6 decimals, published ones 5; how far the
    # published points are from them is tested below).
    for order in WorkOrder.objects.all():
        for value in (order.lat, order.lon):
            assert f"{value:.6f}" not in text, value
            assert str(value) not in text, value
    # No photo at all, not even an after-photo: what a photo shows cannot be checked.
    assert "/media/" not in text
    assert "photos/" not in text
    assert "<img" not in text
    # Not the intake resolution's cells either (finer than the published ones).
    for order in WorkOrder.objects.exclude(h3_cell=""):
        assert order.h3_cell not in text


def test_the_html_and_the_json_carry_no_personal_data(
    world: World, made: dict[str, Any], client: Client
) -> None:
    html = _get(client, "public:page").content.decode()
    _assert_nothing_personal(html, made)
    for period in public.PERIODS:
        text = _get(client, "public:map", period=period).content.decode()
        _assert_nothing_personal(text, made)
        _assert_nothing_personal(json.dumps(json.loads(text), ensure_ascii=False), made)
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    _assert_nothing_personal(_get(english, "public:page").content.decode(), made)


def test_places_are_cell_centres_far_from_the_exact_points(
    world: World, made: dict[str, Any], client: Client
) -> None:
    body = _map(client)
    centres = {(c["lat"], c["lon"]) for c in body["cells"]}
    for cell in body["cells"]:
        assert h3.get_resolution(cell["cell"]) == public.PUBLIC_H3_RESOLUTION
        lat, lon = h3.cell_to_latlng(cell["cell"])
        assert (cell["lat"], cell["lon"]) == (round(lat, 5), round(lon, 5))
        assert len(cell["outline"]) == 6
    for order in (made["closed"], made["fresh"], made["working"], made["other"]):
        # The block of its stored (finer) cell: the same lattice point for every order in it.
        cell = h3.cell_to_parent(order.h3_cell, public.PUBLIC_H3_RESOLUTION)
        centre = tuple(round(x, 5) for x in h3.cell_to_latlng(cell))
        assert centre in centres
        # The published point is the cell's centre, not the order's own: metres away, but
        # within a block's reach (coarse, not wrong).
        assert 5 < _metres(centre, (order.lat, order.lon)) < 450
        for published in centres:
            assert _metres(published, (order.lat, order.lon)) > 5


def test_only_publishable_orders_are_on_the_map(
    world: World, made: dict[str, Any], client: Client
) -> None:
    body = _map(client)
    counts = {s: sum(c["n"][s] for c in body["cells"]) for s in public.STATES}
    # Fresh + other are new, working is being handled, closed is fixed; rejected, voided
    # and merged are not there.
    assert counts == {"new": 2, "working": 1, "fixed": 1}
    assert body["total"] == 4
    items = [item for c in body["cells"] for item in c["items"]]
    fixed = [i for i in items if i[1] == "fixed"]
    assert len(fixed) == 1
    local = timezone.localtime(made["closed"].closed_at).date().isoformat()
    assert fixed[0][3] == local
    assert body["categories"] == {
        str(world.category.pk): [world.category.name, world.category.name_en]
    }


def test_the_counts_are_complete_when_the_lists_are_cut(
    world: World, made: dict[str, Any], client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public, "MAX_ORDERS", 2)
    body = _map(client)
    assert body["total"] == 4
    assert body["truncated"]
    assert body["listed"] == 2
    assert sum(len(c["items"]) for c in body["cells"]) == 2


def test_an_old_report_fixed_in_the_period_is_a_fix(world: World, client: Client) -> None:
    now = timezone.now()
    old = _submit(world, *EXACT[0], now - dt.timedelta(days=60))
    _close(world, old, world.users["bob"], now - dt.timedelta(days=2, hours=2))
    older = _submit(world, *EXACT[1], now - dt.timedelta(days=80))
    _close(world, older, world.users["bob"], now - dt.timedelta(days=70))
    body = _map(client, period="last_30_days")
    items = [i for c in body["cells"] for i in c["items"]]
    # Only the recent fix: reported 60 days ago, fixed two days ago.
    assert [i[1] for i in items] == ["fixed"]
    assert items[0][2] == timezone.localtime(old.created_at).date().isoformat()
    assert (
        items[0][3]
        == timezone.localtime(WorkOrder.objects.get(pk=old.pk).closed_at).date().isoformat()
    )
    assert _map(client, period="last_90_days")["total"] == 2


def test_an_order_without_a_stored_cell_is_placed_by_its_point(
    world: World, made: dict[str, Any], client: Client
) -> None:
    """Orders written by hand-made history (the benchmark's generator) have no stored cell."""
    fresh = made["fresh"]
    WorkOrder.objects.filter(pk=fresh.pk).update(h3_cell="")
    body = _map(client)
    assert body["total"] == 4
    cell = h3.latlng_to_cell(fresh.lat, fresh.lon, public.PUBLIC_H3_RESOLUTION)
    assert cell in {c["cell"] for c in body["cells"]}
    _assert_nothing_personal(json.dumps(body), made)


def test_a_sensitive_category_is_never_published(
    world: World, made: dict[str, Any], client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public, "hidden_category_ids", lambda: [world.category.pk])
    body = _map(client)
    assert body["cells"] == []
    assert body["total"] == 0


def test_a_street_shows_only_its_own_reports(
    world: World, made: dict[str, Any], client: Client
) -> None:
    body = _map(client, area=world.street2.code)
    assert body["total"] == 1
    other = made["other"]
    cell = h3.latlng_to_cell(other.lat, other.lon, public.PUBLIC_H3_RESOLUTION)
    assert [c["cell"] for c in body["cells"]] == [cell]


# --- Figures equal the indicators engine's ----------------------------------------------------


def _direct(area: Any, period: str) -> dict[str, Any]:
    start, end = public.period_range(period, public.today())
    counts = indicators.counts(Filter(start=start, end=end, area_path=area.path if area else ""))
    report = indicators.report(Filter(start=start, end=end, area_path=area.path if area else ""))
    return {"counts": counts, "report": report}


@pytest.mark.parametrize("period", list(public.PERIODS))
def test_the_figures_equal_the_indicators(
    world: World, made: dict[str, Any], client: Client, period: str
) -> None:
    figures = public.figures_payload(period, None)
    whole = _direct(None, period)
    assert figures.whole.reports == whole["counts"]["reports"]
    assert figures.whole.closed == whole["counts"]["closed"]
    for key in public.AREA_RATES:
        r = whole["report"].indicators[key]
        assert (figures.whole.rates[key].numerator, figures.whole.rates[key].denominator) == (
            r.numerator,
            r.denominator,
        )
        assert figures.whole.rates[key].rate == r.rate
    assert [row.code for row in figures.rows] == [world.street1.code, world.street2.code]
    for row, street in zip(figures.rows, (world.street1, world.street2), strict=True):
        direct = _direct(street, period)
        assert row.reports == direct["counts"]["reports"]
        assert row.closed == direct["counts"]["closed"]
        for key in public.AREA_RATES:
            r = direct["report"].indicators[key]
            assert (row.rates[key].numerator, row.rates[key].denominator) == (
                r.numerator,
                r.denominator,
            )
    # Something was counted, so the comparison is not of zeros with zeros.
    assert figures.rows[0].reports == 6
    assert figures.rows[0].closed == 1
    assert figures.rows[0].rates["satisfaction"].rate == 1.0


def test_the_page_shows_the_figures(world: World, made: dict[str, Any], client: Client) -> None:
    response = _get(client, "public:page", period="last_30_days")
    assert response.status_code == 200
    html = response.content.decode()
    street = public.figures_payload("last_30_days", None).rows[0]
    assert f'data-area="{world.street1.code}"' in html
    assert world.street1.display_name in html
    assert street.rates["satisfaction"].text == "100.0%"
    assert street.rates["satisfaction"].text in html
    # A street's own page lists its villages.
    html = _get(client, "public:page", area=world.street1.code).content.decode()
    assert 'data-area="T0101"' in html
    assert 'data-area="T0201"' not in html


def test_a_village_view_has_its_own_row(world: World, made: dict[str, Any]) -> None:
    village = world.grid1.parent
    figures = public.figures_payload("last_30_days", village)
    assert [r.code for r in figures.rows] == [village.code]
    assert figures.whole.reports == _direct(village, "last_30_days")["counts"]["reports"]


def test_an_empty_district(db: Any, client: Client) -> None:
    district = create_area(
        level=Level.DISTRICT, code="E00", name="空区", geometry=square(30.0, 120.0, 0.01)
    )
    create_area(
        level=Level.STREET, code="E01", name="空街", parent=district, geometry=square(30, 120)
    )
    response = _get(client, "public:page")
    assert response.status_code == 200
    html = response.content.decode()
    assert "空街" in html
    assert "—" in html
    body = _map(client)
    assert body["cells"] == []
    assert body["total"] == 0
    assert not body["truncated"]
    figures = public.figures_payload("last_90_days", None)
    assert figures.whole.reports == 0
    assert all(r.rate is None for r in figures.whole.rate_list)


def test_no_area_at_all(db: Any, client: Client) -> None:
    assert _get(client, "public:page").status_code == 200
    assert _map(client)["cells"] == []


# --- Access and caching -------------------------------------------------------------------------


def test_anonymous_visitors_need_no_login(world: World, made: dict[str, Any]) -> None:
    client = Client()
    for name in ("public:page", "public:map"):
        response = _get(client, name)
        assert response.status_code == 200, name
    # The same JSON for a logged-in manager: nothing depends on who asks.
    manager = Client()
    manager.force_login(world.users["dave"])
    caches["default"].clear()
    assert _map(manager)["cells"] == _map(Client())["cells"]


def test_caching_headers_and_etag(world: World, made: dict[str, Any], client: Client) -> None:
    response = _get(client, "public:map")
    assert response["Cache-Control"] == "public, max-age=60"
    etag = response["ETag"]
    assert etag == f'"{response.json()["version"]}"'
    again = client.get(reverse("public:map"), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    other = client.get(reverse("public:map"), HTTP_IF_NONE_MATCH='"stale"')
    assert other.status_code == 200
    page = _get(client, "public:page")
    assert page["Cache-Control"] == "private, max-age=60"


def test_the_data_are_cached_for_a_minute(
    world: World, made: dict[str, Any], client: Client, django_assert_max_num_queries: Any
) -> None:
    first = _map(client)
    # A new report within the minute is not seen yet, and costs no query to be missed.
    _submit(world, 23.0009, 113.0009, timezone.now() - dt.timedelta(minutes=1))
    with django_assert_max_num_queries(0):
        second = _get(client, "public:map").json()
    assert second == first
    _get(client, "public:page")
    with django_assert_max_num_queries(2):  # the session and the language, nothing counted
        _get(client, "public:page")
    caches["default"].clear()
    assert _map(client)["total"] == first["total"] + 1


def test_rate_limited_per_address(
    world: World,
    client: Client,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.YUNBAO_API_ANON_RATE_LIMIT = 3
    # One window however slowly the requests run (a minute's end would start a fresh one).
    monkeypatch.setattr(throttle, "clock", lambda: 1_000_000_040.0)
    caches["api-rate"].clear()
    for _ in range(3):
        assert _get(client, "public:map").status_code == 200
    refused = _get(client, "public:map")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "error" in refused.json()
    assert _get(client, "public:page").status_code == 429
    assert "rate limit reached by public:" in caplog.text


# --- Bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"period": "last_year"},
        {"period": "<script>alert(1)</script>"},
        {"area": "NOPE"},
        {"area": "<script>alert(1)</script>"},
        {"area": "' OR 1=1 --"},
        {"area": "T01\x00"},
        {"area": "9" * 5000},
        {"area": "T010101"},  # a grid: too small to publish
    ],
)
def test_bad_parameters_are_a_clear_400(
    world: World, client: Client, params: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    response = _get(client, "public:map", **params)
    assert response.status_code == 400
    assert response.json()["error"]
    page = _get(client, "public:page", **params)
    assert page.status_code == 400
    html = page.content.decode()
    assert 'class="message error"' in html
    assert "<script>alert(1)" not in html
    assert "aria-current" not in html  # no period is shown as the one asked for
    assert "bad parameters" in caplog.text


def test_the_period_and_area_choices(world: World, made: dict[str, Any], client: Client) -> None:
    html = _get(client, "public:page", period="this_month", area=world.street1.code).content
    text = html.decode()
    assert 'aria-current="page"' in text
    for name in public.PERIODS:
        assert f"period={name}" in text
    day = public.today()
    assert public.period_range("this_month", day) == (day.replace(day=1), day)
    assert public.period_range("last_90_days", day)[0] == day - dt.timedelta(days=89)
    with pytest.raises(public.BadParameter):
        public.period_range("forever", day)


def test_the_tracking_page_links_here(world: World, client: Client) -> None:
    from yunbao.intake.models import Submission

    order = _submit(world, *EXACT[0], timezone.now())
    token = "tok-public-link-1234567890"
    Submission.objects.create(order=order, key="k-public-link", digest="d", tracking_token=token)
    html = client.get(reverse("intake-track", args=[token])).content.decode()
    assert reverse("public:page") in html
