"""Each indicator's formula on hand-built orders moved through `workorders.actions`: no
orders, all on time, all overdue, reworked twice, suspended time left out of durations,
rejects, merges, voids, returns, open orders, filters, trends, rankings and scores."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from yunbao.insight import indicators
from yunbao.insight.indicators import DEFAULT_WEIGHTS, INDICATORS, Filter, composite, percentile
from yunbao.insight.models import Score, ScoreWeight
from yunbao.insight.store import catch_up
from yunbao.insight.tests.helpers import MONDAY, at, report_at
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import Source, WorkOrder

pytestmark = pytest.mark.django_db

MIN = 60
DAY = dt.timedelta(days=1)
# Limits of the test world's category: two natural hours for every stage.


# The figures are read after the catch-up job counted the moves, as the pages will.
def report(f: Filter) -> Any:
    catch_up()
    return indicators.report(f)


def dashboard(f: Filter) -> Any:
    catch_up()
    return indicators.dashboard(f)


def trend(f: Filter, *args: Any, **kwargs: Any) -> Any:
    catch_up()
    return indicators.trend(f, *args, **kwargs)


def unit_ranking(f: Filter, *args: Any, **kwargs: Any) -> Any:
    catch_up()
    return indicators.unit_ranking(f, *args, **kwargs)


def village_ranking(f: Filter, *args: Any, **kwargs: Any) -> Any:
    catch_up()
    return indicators.village_ranking(f, *args, **kwargs)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


def close_order(world: World, order: WorkOrder, times: list[dt.datetime], *, rate: int = 0) -> None:
    """accept, dispatch, start, finish, verify at `times` (and rate one hour later)."""
    u = world.users
    actions.accept(order, actor=u["alice"], at=times[0])
    actions.dispatch(order, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=times[1])
    actions.start(order, actor=u["bob"], at=times[2])
    actions.finish(order, actor=u["bob"], note="已清理", photos=[stored_photo()], at=times[3])
    actions.verify(order, actor=u["carol"], at=times[4])
    if rate:
        actions.rate(order, actor=u["erin"], rating=rate, at=times[4] + dt.timedelta(hours=1))


def rates(f: Filter | None = None) -> dict[str, float | None]:
    return {k: r.rate for k, r in report(f or Filter()).indicators.items()}


def test_no_orders_gives_no_rates(world: World) -> None:
    r = report(Filter(start=MONDAY, end=MONDAY))
    assert all(v == 0 for v in r.counts.values())
    assert all(i.rate is None and i.denominator == 0 for i in r.indicators.values())
    assert all(
        d.n == 0 and d.mean_seconds is None and d.p90_seconds is None for d in r.durations.values()
    )
    assert all(s is None for s in r.scores.values())
    assert trend(Filter()) == []
    board = dashboard(Filter())
    assert board.units == []
    assert board.villages == []
    assert board.by_day == []


def test_an_order_closed_on_time_scores_everything_full(world: World) -> None:
    order = report_at(world, at(9))
    close_order(world, order, [at(9, 10), at(9, 20), at(9, 30), at(10), at(10, 30)], rate=5)
    r = report(Filter(start=MONDAY, end=MONDAY))
    for key in INDICATORS:
        expected = 5.0 if key == "mean_rating" else 0.0 if key == "rework_rate" else 1.0
        assert r.indicators[key].rate == expected, key
    assert r.volumes == dict.fromkeys(
        ("reports", "filed", "dispatched", "handled", "closed", "rated"), 1
    ) | {"reworks": 0}
    d = r.durations
    assert (d["accept"].mean_seconds, d["dispatch"].mean_seconds) == (10 * MIN, 10 * MIN)
    assert (d["handle"].mean_seconds, d["check"].mean_seconds) == (40 * MIN, 30 * MIN)
    assert d["total"].mean_seconds == 90 * MIN
    assert r.scores[Score.SHIFT_LEADER] == 100.0
    assert r.scores[Score.UNIT] == 100.0


def test_all_overdue(world: World) -> None:
    three = dt.timedelta(hours=3)
    for _ in range(2):
        order = report_at(world, at(8))
        close_order(world, order, [at(8) + three * k for k in range(1, 6)])
    r = report(Filter(start=MONDAY, end=MONDAY + DAY))
    late = ("response_timeliness", "on_time_filing", "on_time_dispatch", "on_time_handling")
    for key in (*late, "on_time_check", "on_time_closing"):
        assert r.indicators[key].rate == 0.0, key
        assert r.indicators[key].denominator == 2, key
    assert r.indicators["closing_rate"].rate == 1.0
    assert r.indicators["handling_rate"].rate == 1.0
    assert r.indicators["satisfaction"].rate is None  # nobody rated
    assert r.scores[Score.SHIFT_LEADER] == 40.0  # only accurate filing (0.40) scores


def test_reworked_twice_counts_once_in_the_rate_and_twice_in_the_volume(world: World) -> None:
    u = world.users
    order = report_at(world, at(9))
    actions.accept(order, actor=u["alice"], at=at(9, 5))
    actions.dispatch(order, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=at(9, 10))
    t = at(9, 10)
    for _ in range(2):
        actions.start(order, actor=u["bob"], at=t + dt.timedelta(minutes=5))
        actions.finish(
            order,
            actor=u["bob"],
            note="好了",
            photos=[stored_photo()],
            at=t + dt.timedelta(minutes=20),
        )
        actions.rework(order, actor=u["carol"], note="没干净", at=t + dt.timedelta(minutes=30))
        t += dt.timedelta(minutes=30)
    actions.start(order, actor=u["bob"], at=t + dt.timedelta(minutes=5))
    actions.finish(
        order, actor=u["bob"], note="好了", photos=[stored_photo()], at=t + dt.timedelta(minutes=20)
    )
    actions.verify(order, actor=u["carol"], at=t + dt.timedelta(minutes=30))
    r = report(Filter(start=MONDAY, end=MONDAY))
    assert r.indicators["rework_rate"].numerator == 1
    assert r.indicators["rework_rate"].rate == 1.0
    assert r.counts["reworks"] == 2
    assert (r.counts["handled"], r.counts["due_handle"], r.counts["checked"]) == (3, 3, 3)
    assert r.indicators["closing_rate"].rate == 1.0
    # Three handling rounds of 20, 25 and 25 minutes (from dispatch, then from each rework).
    assert r.durations["handle"].n == 3
    assert r.durations["handle"].mean_seconds == pytest.approx((20 + 20 + 20) * MIN / 3 + 0)
    assert r.durations["check"].n == 3
    assert r.scores[Score.UNIT] == pytest.approx(100 * (0.4 + 0.2 + 0) / 0.8)


def test_suspended_time_is_left_out_of_durations_and_dues(world: World) -> None:
    u = world.users
    order = report_at(world, at(9))
    actions.accept(order, actor=u["alice"], at=at(9, 10))
    actions.dispatch(order, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=at(9, 20))
    actions.suspend(order, actor=u["carol"], note="等待产权单位", at=at(9, 30))
    # While suspended it is due for nothing: not to handle, not to close.
    r = report(Filter())
    assert (r.counts["due_handle"], r.counts["due_close"]) == (0, 0)
    actions.resume(order, actor=u["carol"], at=at(9, 30) + DAY)
    actions.start(order, actor=u["bob"], at=at(9, 40) + DAY)
    actions.finish(order, actor=u["bob"], note="好了", photos=[stored_photo()], at=at(10) + DAY)
    actions.verify(order, actor=u["carol"], at=at(10, 30) + DAY)
    r = report(Filter())
    assert r.durations["handle"].mean_seconds == 40 * MIN  # 24 h 40 min minus 24 h
    assert r.durations["total"].mean_seconds == 90 * MIN
    assert r.indicators["on_time_handling"].rate == 1.0  # the deadline moved on resume


def test_rejects_merges_and_valid_reports(world: World) -> None:
    u = world.users
    kept = report_at(world, at(9), source=Source.INSPECTOR, reporter="fay")
    actions.accept(kept, actor=u["alice"], at=at(9, 10))
    rejected = report_at(world, at(9), source=Source.INSPECTOR, reporter="fay")
    actions.reject(rejected, actor=u["alice"], note="不属于受理范围", at=at(12))  # late
    merged = report_at(world, at(9), source=Source.RESIDENT)
    actions.merge(merged, actor=u["alice"], into=kept, at=at(9, 15))
    inspector = Filter(source=Source.INSPECTOR)
    r = report(inspector)
    assert (
        r.indicators["valid_report_rate"].numerator,
        r.indicators["valid_report_rate"].denominator,
    ) == (1, 2)
    assert r.indicators["response_timeliness"].rate == 0.5
    assert r.indicators["on_time_filing"].rate == 1.0
    everyone = report(Filter())
    assert everyone.indicators["valid_report_rate"].rate == pytest.approx(1 / 3)
    # The merged report was never responded to by filing or rejecting: not due.
    assert everyone.indicators["response_timeliness"].denominator == 2


def test_voids_and_returns(world: World) -> None:
    u = world.users
    voided = report_at(world, at(9))
    actions.accept(voided, actor=u["alice"], at=at(9, 5))
    actions.void(voided, actor=u["dave"], note="重复", at=at(9, 30))
    returned = report_at(world, at(9))
    actions.accept(returned, actor=u["alice"], at=at(9, 5))
    actions.dispatch(returned, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=at(9, 10))
    actions.return_order(returned, actor=u["bob"], note="不是我们的", at=at(9, 20))
    actions.dispatch(returned, actor=u["alice"], unit=world.unit1, worker=u["bill"], at=at(9, 40))
    r = report(Filter(start=MONDAY, end=MONDAY))
    assert r.indicators["accurate_filing"].rate == 0.5
    ad = r.indicators["accurate_dispatch"]
    assert (ad.numerator, ad.denominator) == (1, 2)
    # The second dispatch round counts from the return: 20 minutes.
    assert r.durations["dispatch"].n == 2
    assert r.durations["dispatch"].mean_seconds == (5 + 20) * MIN / 2


def test_open_orders_are_due_on_their_deadline_day(world: World) -> None:
    u = world.users
    waiting = report_at(world, at(23))  # accept due at 01:00 on Tuesday
    in_hand = report_at(world, at(9))
    actions.accept(in_hand, actor=u["alice"], at=at(9, 5))
    actions.dispatch(in_hand, actor=u["alice"], unit=world.unit1, worker=u["bob"], at=at(9, 10))
    monday, tuesday = Filter(start=MONDAY, end=MONDAY), Filter(start=MONDAY + DAY, end=MONDAY + DAY)
    assert report(monday).counts["due_accept"] == 1  # in_hand's accept
    assert report(tuesday).counts["due_accept"] == 1  # waiting's deadline
    assert report(monday).indicators["handling_rate"].rate == 0.0  # due 11:10, not handled
    assert report(monday).indicators["closing_rate"].rate == 0.0
    assert waiting.pk


def test_filters_by_area_unit_source_category_and_period(world: World) -> None:
    u = world.users
    one = report_at(world, at(9))
    close_order(world, one, [at(9, 10), at(9, 20), at(9, 30), at(10), at(10, 30)])
    two = report_at(world, at(9), street=2, source=Source.HOTLINE)
    actions.accept(two, actor=u["dave"], at=at(12))
    assert report(Filter.of(area=world.street1)).counts["reports"] == 1
    assert report(Filter.of(area=world.street2)).counts["filed_on_time"] == 0
    assert report(Filter.of(area=world.grid1)).counts["closed"] == 1
    assert report(Filter.of(area=world.grid1b)).counts["reports"] == 0
    assert report(Filter.of(area=world.district)).counts["reports"] == 2
    assert report(Filter.of(unit=world.unit1)).counts["closed"] == 1
    assert report(Filter.of(unit=world.unit2)).counts["reports"] == 0
    assert report(Filter(unit=0)).counts["reports"] == 1  # no unit yet
    assert report(Filter(source=Source.HOTLINE)).counts["filed"] == 1
    assert report(Filter.of(category=world.category)).counts["reports"] == 2
    assert report(Filter(start=MONDAY + DAY)).counts["reports"] == 0
    assert report(Filter(end=MONDAY - DAY)).counts["reports"] == 0


def test_trends_by_day_week_and_month(world: World) -> None:
    for day in (MONDAY, MONDAY + DAY, MONDAY + 7 * DAY, MONDAY + 30 * DAY):
        report_at(world, at(9, day=day))
    by_day = trend(Filter(), "day")
    assert [(d, r.counts["reports"]) for d, r in by_day] == [
        (MONDAY, 1), (MONDAY + DAY, 1), (MONDAY + 7 * DAY, 1), (MONDAY + 30 * DAY, 1)
    ]  # fmt: skip
    assert [r.counts["reports"] for _, r in trend(Filter(), "week")] == [2, 1, 1]
    months = trend(Filter(), "month")
    assert [(d, r.counts["reports"]) for d, r in months] == [
        (dt.date(2025, 3, 1), 3), (dt.date(2025, 4, 1), 1)
    ]  # fmt: skip
    assert dashboard(Filter()).trend("month")[0][1].counts["reports"] == 3
    with pytest.raises(ValueError, match="unknown trend period"):
        trend(Filter(), "year")


def test_rankings_of_units_and_villages(world: World) -> None:
    u = world.users
    good = report_at(world, at(9))
    close_order(world, good, [at(9, 10), at(9, 20), at(9, 30), at(10), at(10, 30)])
    late = report_at(world, at(9), street=2)
    actions.accept(late, actor=u["dave"], at=at(9, 10))
    actions.dispatch(late, actor=u["dave"], unit=world.unit2, worker=u["walt"], at=at(9, 20))
    actions.start(late, actor=u["walt"], at=at(9, 30))
    actions.finish(late, actor=u["walt"], note="好了", photos=[stored_photo()], at=at(15))
    units = unit_ranking(Filter())
    assert [x.key for x in units] == [world.unit1.pk, world.unit2.pk]
    assert units[0].score == 100.0
    assert units[1].score == 50.0  # late (0.4 × 0), handled (0.2), no rework (0.2)
    villages = village_ranking(Filter())
    assert [x.key for x in villages] == [world.grid1.parent.path, world.grid2.parent.path]
    # A grid filter still ranks its village.
    assert [x.key for x in village_ranking(Filter.of(area=world.grid1))] == [
        world.grid1.parent.path
    ]


def test_weights_come_from_the_admin_when_set(world: World) -> None:
    order = report_at(world, at(9))
    three = dt.timedelta(hours=3)
    close_order(world, order, [at(9, 10), at(9, 20), at(9, 30), at(10), at(10, 30) + three])
    assert report(Filter()).scores[Score.SHIFT_LEADER] == 65.0  # 0.25 + 0.40, closing late
    ScoreWeight.objects.create(
        score=Score.SHIFT_LEADER, indicator="on_time_closing", weight=Decimal(1)
    )
    assert report(Filter()).scores[Score.SHIFT_LEADER] == 0.0
    assert report(Filter()).scores[Score.UNIT] is not None  # others keep their defaults


def test_composite_leaves_out_indicators_without_a_value() -> None:
    from django.utils.translation import gettext_lazy

    from yunbao.insight.indicators import Ratio

    label = gettext_lazy("label")

    rates = {
        "on_time_filing": Ratio("on_time_filing", label, 1, 2, 0.5),
        "accurate_filing": Ratio("accurate_filing", label, 0, 0, None),
        "on_time_closing": Ratio("on_time_closing", label, 1, 1, 1.0),
    }
    expected = 100 * (0.25 * 0.5 + 0.35 * 1.0) / 0.60
    assert composite(DEFAULT_WEIGHTS[Score.SHIFT_LEADER], rates) == round(expected, 2)
    assert (
        composite({"rework_rate": 1.0}, {"rework_rate": Ratio("rework_rate", label, 1, 4, 0.25)})
        == 75.0
    )
    assert composite({}, rates) is None


def test_percentile_interpolates_within_the_bucket() -> None:
    from yunbao.insight.facts import BUCKET_EDGES, bucket_of

    assert percentile({}) is None
    # Ten durations in the 10–15 minute bucket: the 90th percentile is 9/10 of the way.
    b = bucket_of(12 * MIN)
    assert (BUCKET_EDGES[b], BUCKET_EDGES[b + 1]) == (10 * MIN, 15 * MIN)
    assert percentile({b: 10}) == pytest.approx(10 * MIN + 0.9 * 5 * MIN)
    assert percentile({0: 9, b: 1}) == pytest.approx(1 * MIN)  # the top of the first bucket
    last = len(BUCKET_EDGES) - 1
    assert percentile({last: 3}) == BUCKET_EDGES[last]
