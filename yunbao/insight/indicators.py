"""The indicators of the standard over any filter, read from the aggregates only.

`report(f)` gives every indicator with its numerator, denominator and rate (None when the
denominator is 0), the volumes, the mean and 90th percentile of every stage's duration and
the composite scores; `trend(f, by)` the same per day, week or month; `rankings(f)` units and
villages by their composite score; `dashboard(f)` all of these at once (what the main
dashboard shows; the benchmark times it). The exact meaning of each count is in
`yunbao.insight.facts`; each formula is written once, in `INDICATORS`, with the standard's
definition (GB/T 30428.4, `docs/../shared/reference/urban-standard.md`, "Indicators").

A filter's period is a range of local days (both ends included). Each query reads the
coarsest roll-up (`store.CUBES`) that holds the filter's area level and dimensions and what
it groups by: the district's day totals for the whole district, street or village × unit ×
source for a unit or a source, the full key for a scene or category, grid rows for a grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from yunbao.geo.models import Level
from yunbao.insight.facts import BUCKET_EDGES
from yunbao.insight.models import (
    MEASURES,
    Cell,
    DurationCell,
    DurationStage,
    Score,
    ScoreWeight,
)
from yunbao.insight.store import LEVEL_DEPTH, cube_for, level_of_path, village_of

# --- The filter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """Which orders' figures to count. `start`/`end` are local days (inclusive; None: open),
    `area_path` an area's materialised path (a prefix: the area and everything in it), the
    others ids (0 for "none") or a `Source` value; None/"" means any."""

    start: date | None = None
    end: date | None = None
    area_path: str = ""
    unit: int | None = None
    scene: int | None = None
    category: int | None = None
    source: str = ""

    @classmethod
    def of(
        cls,
        *,
        start: date | None = None,
        end: date | None = None,
        area: Any = None,
        unit: Any = None,
        scene: Any = None,
        category: Any = None,
        source: str = "",
    ) -> Filter:
        """A filter from model instances (or ids)."""

        def pk(value: Any) -> int | None:
            return None if value is None else int(getattr(value, "pk", value))

        return cls(
            start=start,
            end=end,
            area_path=area.path if area is not None else "",
            unit=pk(unit),
            scene=pk(scene),
            category=pk(category),
            source=source,
        )

    @property
    def level(self) -> str:
        """The level of the filter's area (the district when it has none; an unknown path
        is read at village level, as deep as any filter above a grid goes)."""
        if not self.area_path:
            return Level.DISTRICT
        return level_of_path(self.area_path) or Level.COMMUNITY

    def grain(self, by: str | None = None, *, durations: bool = False) -> int:
        """The coarsest roll-up holding what this filter selects and what the query groups
        `by` ("unit", "area" for villages, or None), of durations if `durations`."""
        needs = {d for d in ("unit", "scene", "category") if getattr(self, d) is not None}
        if self.source:
            needs.add("source")
        level = self.level
        if by == "unit":
            needs.add("unit")
        elif by == "area" and LEVEL_DEPTH[level] < LEVEL_DEPTH[Level.COMMUNITY]:
            level = Level.COMMUNITY
        return cube_for(level, needs, durations=durations).grain

    def q(self, grain: int | None = None, *, by: str | None = None, durations: bool = False) -> Q:
        q = Q(grain=self.grain(by, durations=durations) if grain is None else grain)
        if self.start is not None:
            q &= Q(day__gte=self.start)
        if self.end is not None:
            q &= Q(day__lte=self.end)
        if self.area_path:
            q &= Q(area__startswith=self.area_path)
        for name in ("unit", "scene", "category"):
            value = getattr(self, name)
            if value is not None:
                q &= Q(**{name: value})
        if self.source:
            q &= Q(source=self.source)
        return q


# --- The formulas ---------------------------------------------------------------------------

Counts = Mapping[str, int]


@dataclass(frozen=True)
class Indicator:
    """One formula. `numerator` is a sum of measures with signs (+1/−1), `denominator` one
    measure; `lower_is_better` for rates that should be small (rework)."""

    key: str
    label: Promise
    numerator: tuple[tuple[int, str], ...]
    denominator: str
    definition: Promise
    lower_is_better: bool = False
    # A mean (sum ÷ count), not a share.
    mean: bool = False

    def num(self, counts: Counts) -> int:
        return sum(sign * counts.get(m, 0) for sign, m in self.numerator)

    def den(self, counts: Counts) -> int:
        return counts.get(self.denominator, 0)


def _ind(
    key: str,
    label: Promise,
    num: str | tuple[tuple[int, str], ...],
    den: str,
    definition: Promise,
    **kw: Any,
) -> Indicator:
    numerator = ((1, num),) if isinstance(num, str) else num
    return Indicator(key, label, numerator, den, definition, **kw)


INDICATORS: dict[str, Indicator] = {
    i.key: i
    for i in (
        _ind(
            "response_timeliness",
            _("Response timeliness (响应及时率)"),
            "responded_on_time",
            "due_accept",
            _(
                "响应及时率 = responded within limit ÷ orders. Ours: reports accepted or rejected "
                "within the filing limit ÷ reports whose filing clock ended or fell due."
            ),
        ),
        _ind(
            "on_time_filing",
            _("On-time filing rate (按时立案率)"),
            "filed_on_time",
            "filed",
            _("按时立案率 = filed on time ÷ filed."),
        ),
        _ind(
            "accurate_filing",
            _("Accurate filing rate (准确立案率)"),
            ((1, "filed"), (-1, "filed_voided")),
            "filed",
            _("准确立案率 = (filed − voided) ÷ filed."),
        ),
        _ind(
            "on_time_dispatch",
            _("On-time dispatch rate (按时派遣率)"),
            "dispatched_on_time",
            "due_dispatch",
            _("按时派遣率 = dispatched on time ÷ due to dispatch."),
        ),
        _ind(
            "accurate_dispatch",
            _("Accurate dispatch rate (准确派遣率)"),
            ((1, "due_dispatch"), (-1, "returned")),
            "due_dispatch",
            _(
                "准确派遣率 = (due to dispatch − returned/reworked) ÷ due to dispatch. Ours counts "
                "returns (回退) only: a rework is the handling unit's failure and is counted in "
                "the rework rate."
            ),
        ),
        _ind(
            "handling_rate",
            _("Handling rate (处置率)"),
            "handled",
            "due_handle",
            _("处置率 = handled ÷ due to handle."),
        ),
        _ind(
            "on_time_handling",
            _("On-time handling rate (按时处置率)"),
            "handled_on_time",
            "due_handle",
            _("按时处置率 = handled on time ÷ due to handle."),
        ),
        _ind(
            "on_time_check",
            _("On-time check rate (按时核查率)"),
            "checked_on_time",
            "due_check",
            _("按时核实率 / 按时核查率 = verified/checked on time ÷ due."),
        ),
        _ind(
            "closing_rate",
            _("Closing rate (结案率)"),
            "closed",
            "due_close",
            _("结案率 = closed ÷ due to close (suspended orders, deferred, are not due)."),
        ),
        _ind(
            "on_time_closing",
            _("On-time closing rate (按期结案率)"),
            "closed_on_time",
            "due_close",
            _("按期结案率 = closed on time ÷ due to close."),
        ),
        _ind(
            "rework_rate",
            _("Rework rate (返工率)"),
            "reworked",
            "due_close",
            _("返工率 = reworked ÷ due to close."),
            lower_is_better=True,
        ),
        _ind(
            "satisfaction",
            _("Satisfaction (满意率)"),
            "satisfied",
            "rated",
            _("Satisfied ratings (4 or 5 of 5) ÷ ratings."),
        ),
        _ind(
            "mean_rating",
            _("Mean rating"),
            "rating_sum",
            "rated",
            _("Sum of ratings ÷ ratings (1 to 5)."),
            mean=True,
        ),
        _ind(
            "valid_report_rate",
            _("Valid report rate (有效上报率)"),
            "valid",
            "reports",
            _(
                "监督员有效上报率 = valid reports ÷ reports (filter the source for inspectors). "
                "Valid: filed (not rejected, not merged)."
            ),
        ),
    )
}

VOLUMES = ("reports", "filed", "dispatched", "handled", "closed", "reworks", "rated")

# Composite scores: indicator → weight. The shift leader's is the standard's example.
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    Score.SHIFT_LEADER: {"on_time_filing": 0.25, "accurate_filing": 0.40, "on_time_closing": 0.35},
    Score.DISPATCHER: {"on_time_dispatch": 0.5, "accurate_dispatch": 0.5},
    Score.INSPECTOR: {"valid_report_rate": 0.5, "on_time_check": 0.5},
    Score.UNIT: {
        "on_time_handling": 0.4,
        "handling_rate": 0.2,
        "rework_rate": 0.2,
        "satisfaction": 0.2,
    },
    Score.AREA: {
        "closing_rate": 0.3,
        "on_time_closing": 0.3,
        "rework_rate": 0.2,
        "satisfaction": 0.2,
    },
}


def weights() -> dict[str, dict[str, float]]:
    """Each score's weights: the admin's `ScoreWeight` rows where a score has any, else the
    defaults."""
    result = {score: dict(w) for score, w in DEFAULT_WEIGHTS.items()}
    stored: dict[str, dict[str, float]] = {}
    for score, indicator, weight in ScoreWeight.objects.values_list("score", "indicator", "weight"):
        stored.setdefault(score, {})[indicator] = float(weight)
    result.update(stored)
    return result


@dataclass(frozen=True)
class Ratio:
    key: str
    label: Promise
    numerator: int
    denominator: int
    rate: float | None


def ratio(indicator: Indicator, counts: Counts) -> Ratio:
    num, den = indicator.num(counts), indicator.den(counts)
    return Ratio(indicator.key, indicator.label, num, den, num / den if den else None)


def composite(score_weights: Mapping[str, float], rates: Mapping[str, Ratio]) -> float | None:
    """Σ weight × value ÷ Σ weight over the indicators that have a value, on 0–100; a rate
    that should be low counts as 1 − rate. None when no weighted indicator has a value."""
    total = weighted = 0.0
    for key, weight in score_weights.items():
        r = rates.get(key)
        if r is None or r.rate is None or not weight:
            continue
        value = 1 - r.rate if INDICATORS[key].lower_is_better else r.rate
        weighted += weight * value
        total += weight
    return round(100 * weighted / total, 2) if total else None


# --- Durations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageDuration:
    stage: str
    label: Promise
    n: int
    mean_seconds: float | None
    p90_seconds: float | None


def percentile(buckets: Mapping[int, int], share: float = 0.9) -> float | None:
    """The `share` quantile of a histogram {bucket: count}, interpolated linearly within its
    bucket of `BUCKET_EDGES` (the open last bucket answers its lower edge)."""
    n = sum(buckets.values())
    if n <= 0:
        return None
    target = share * n
    seen = 0
    for b in sorted(buckets):
        count = buckets[b]
        if count <= 0:
            continue
        if seen + count >= target:
            lo = BUCKET_EDGES[b]
            if b + 1 >= len(BUCKET_EDGES):
                return float(lo)
            hi = BUCKET_EDGES[b + 1]
            return lo + (hi - lo) * (target - seen) / count
        seen += count
    return float(BUCKET_EDGES[max(buckets)])


def durations_from(rows: Iterable[tuple[str, int, int, int]]) -> dict[str, StageDuration]:
    """Stage durations from (stage, bucket, n, seconds) rows."""
    hist: dict[str, dict[int, int]] = {s: {} for s in DurationStage.values}
    sums: dict[str, int] = dict.fromkeys(DurationStage.values, 0)
    for stage, bucket, n, seconds in rows:
        hist[stage][bucket] = hist[stage].get(bucket, 0) + n
        sums[stage] += seconds
    result = {}
    for stage in DurationStage:
        n = sum(hist[stage].values())
        result[stage.value] = StageDuration(
            stage.value,
            stage.label,
            n,
            sums[stage] / n if n else None,
            percentile(hist[stage]),
        )
    return result


# --- Reports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Everything the standard measures, for one filter (or one trend period)."""

    counts: dict[str, int]
    indicators: dict[str, Ratio]
    durations: dict[str, StageDuration] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)

    @property
    def volumes(self) -> dict[str, int]:
        return {m: self.counts.get(m, 0) for m in VOLUMES}


def build_report(
    counts: Mapping[str, int],
    durations: dict[str, StageDuration] | None = None,
    score_weights: Mapping[str, Mapping[str, float]] | None = None,
) -> Report:
    full = {m: int(counts.get(m) or 0) for m in MEASURES}
    rates = {key: ratio(ind, full) for key, ind in INDICATORS.items()}
    w = score_weights if score_weights is not None else DEFAULT_WEIGHTS
    scores = {score: composite(w[score], rates) for score in w}
    return Report(full, rates, durations or {}, scores)


_SUMS = {m: Sum(m) for m in MEASURES}


def cells(f: Filter, by: str | None = None) -> QuerySet[Cell]:
    return Cell.objects.filter(f.q(by=by))


def counts(f: Filter) -> dict[str, int]:
    totals = cells(f).aggregate(**_SUMS)
    return {m: int(totals[m] or 0) for m in MEASURES}


def durations(f: Filter) -> dict[str, StageDuration]:
    rows = (
        DurationCell.objects.filter(f.q(durations=True))
        .values_list("stage", "bucket")
        .annotate(n=Sum("n"), s=Sum("seconds"))
        .values_list("stage", "bucket", "n", "s")
    )
    return durations_from(rows)


def report(f: Filter, *, score_weights: Mapping[str, Mapping[str, float]] | None = None) -> Report:
    """Every indicator, volume, stage duration and composite score for `f`."""
    return build_report(counts(f), durations(f), score_weights or weights())


def _period_start(day: date, by: str) -> date:
    if by == "day":
        return day
    if by == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if by == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown trend period {by!r} (day, week or month)")


def daily_counts(f: Filter) -> dict[date, dict[str, int]]:
    return _grouped(f, "day")


def trend_from(
    daily: Mapping[date, Mapping[str, int]],
    by: str,
    score_weights: Mapping[str, Mapping[str, float]] | None = None,
) -> list[tuple[date, Report]]:
    buckets: dict[date, dict[str, int]] = {}
    for day, c in daily.items():
        into = buckets.setdefault(_period_start(day, by), dict.fromkeys(MEASURES, 0))
        for m in MEASURES:
            into[m] += c.get(m, 0)
    return [(start, build_report(c, None, score_weights)) for start, c in sorted(buckets.items())]


def trend(f: Filter, by: str = "day") -> list[tuple[date, Report]]:
    """Counts and indicators per day, week (from Monday) or month, oldest first; periods
    without any figure are left out."""
    _period_start(date.today(), by)  # refuse an unknown period before querying
    return trend_from(daily_counts(f), by, weights())


@dataclass(frozen=True)
class Ranked:
    """One unit or village: its id (unit) or path (village), report and score."""

    key: Any
    report: Report
    score: float | None


def _rank(
    groups: Mapping[Any, Mapping[str, int]],
    score: str,
    score_weights: Mapping[str, Mapping[str, float]],
) -> list[Ranked]:
    ranked = []
    for key, c in groups.items():
        r = build_report(c, None, score_weights)
        ranked.append(Ranked(key, r, r.scores.get(score)))
    # Best first; those without a score last, then by key for a stable order.
    return sorted(ranked, key=lambda x: (x.score is None, -(x.score or 0), str(x.key)))


def _grouped(f: Filter, column: str) -> dict[Any, dict[str, int]]:
    rows = cells(f, column).values(column).annotate(**{f"s_{m}": Sum(m) for m in MEASURES})
    return {r[column]: {m: int(r[f"s_{m}"] or 0) for m in MEASURES} for r in rows}


def unit_ranking(
    f: Filter, score_weights: Mapping[str, Mapping[str, float]] | None = None
) -> list[Ranked]:
    """Units (by id; 0 gathers the orders no unit holds, left out) by the unit score."""
    groups = {k: v for k, v in _grouped(f, "unit").items() if k}
    return _rank(groups, Score.UNIT, score_weights or weights())


def village_ranking(
    f: Filter, score_weights: Mapping[str, Mapping[str, float]] | None = None
) -> list[Ranked]:
    """Villages (by path) by the area score."""
    groups: dict[str, dict[str, int]] = {}
    for area, c in _grouped(f, "area").items():
        into = groups.setdefault(village_of(area), dict.fromkeys(MEASURES, 0))
        for m in MEASURES:
            into[m] += c[m]
    return _rank(groups, Score.AREA, score_weights or weights())


@dataclass(frozen=True)
class Dashboard:
    report: Report
    by_day: list[tuple[date, Report]]
    units: list[Ranked]
    villages: list[Ranked]

    def trend(self, by: str) -> list[tuple[date, Report]]:
        """Weeks and months from the days already read."""
        daily = {day: r.counts for day, r in self.by_day}
        return trend_from(daily, by)


def dashboard(f: Filter) -> Dashboard:
    """The main dashboard's figures: the report, the daily trend and both rankings."""
    w = weights()
    daily = daily_counts(f)
    totals = dict.fromkeys(MEASURES, 0)
    for c in daily.values():
        for m in MEASURES:
            totals[m] += c[m]
    return Dashboard(
        build_report(totals, durations(f), w),
        trend_from(daily, "day", w),
        unit_ranking(f, w),
        village_ranking(f, w),
    )


def with_period(f: Filter, start: date | None, end: date | None) -> Filter:
    return replace(f, start=start, end=end)


__all__ = [
    "DEFAULT_WEIGHTS",
    "INDICATORS",
    "Dashboard",
    "Filter",
    "Indicator",
    "Ranked",
    "Ratio",
    "Report",
    "StageDuration",
    "composite",
    "counts",
    "dashboard",
    "durations",
    "percentile",
    "report",
    "trend",
    "unit_ranking",
    "village_ranking",
    "weights",
]
