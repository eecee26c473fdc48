"""The monthly evaluation report (月度考评) of one unit or one area (street or village).

`monthly(subject, month, base)` gathers, from the indicators' public functions only (so the
report says what the dashboard says for the same filter):

- the month's report (`indicators.report`: every rate with its parts, volumes, stage
  durations, composite scores) and the previous month's, side by side with the change;
- the month's days (`indicators.dashboard(...).by_day`, every day filled in): reports,
  closed orders and the on-time closing rate per day;
- the ranking among peers: a unit among the units ranked over the same areas; a village
  among the villages of its street; a street among the streets of its district (the sum of
  its villages' counts, scored like a village). Peers are only what the viewer's areas hold:
  a street dispatcher's village report never shows another street's villages;
- the composite score (the unit score for a unit, the area score for an area) with its
  weights: each weighted indicator's value and its share of the score, which add up to it.

`base` is the viewer's filter without a period (`views.filter_for_scope`, or one area): the
figures of a unit are those of its orders inside the viewer's areas, as on the dashboard.
The charts are drawn here as plain numbers for inline SVG (`*_chart`), in the style of the
dashboard's trend chart (`views.trend_chart`, reused for the day trend).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils.translation import gettext as _

from yunbao.geo.models import Area, Level
from yunbao.insight import indicators
from yunbao.insight.indicators import INDICATORS, VOLUMES, Filter, Ranked, Report, build_report
from yunbao.insight.models import MEASURES, DurationStage, Score
from yunbao.org.models import Unit

# The oldest month a report may be asked for (a typing mistake must not scan a century).
FIRST_MONTH = dt.date(2000, 1, 1)
PEERS_SHOWN = 12


@dataclass(frozen=True)
class Subject:
    """What the report is about: a unit, or an area (a street or a village)."""

    unit: Unit | None = None
    area: Area | None = None

    def __post_init__(self) -> None:
        if (self.unit is None) == (self.area is None):
            raise ValueError("a report is about one unit or one area")
        if self.area is not None and self.area.level not in (Level.STREET, Level.COMMUNITY):
            raise ValueError(f"a report is about a street or a village, not {self.area.level}")

    @property
    def name(self) -> str:
        return str(self.unit) if self.unit is not None else self.area_name

    @property
    def area_name(self) -> str:
        return self.area.display_name if self.area is not None else ""

    @property
    def score(self) -> str:
        """The composite score it is judged by."""
        return Score.UNIT if self.unit is not None else Score.AREA

    @property
    def kind_label(self) -> str:
        if self.unit is not None:
            return _("Unit")
        assert self.area is not None
        return _("Street") if self.area.level == Level.STREET else _("Village")


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of `month`'s month."""
    first = month.replace(day=1)
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def previous_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def subject_filter(subject: Subject, base: Filter) -> Filter:
    """The subject's orders within `base` (the viewer's areas): the unit inside them, or the
    area itself (the caller checked that the viewer's areas cover it)."""
    if subject.unit is not None:
        return replace(base, unit=subject.unit.pk)
    assert subject.area is not None
    return Filter(area_path=subject.area.path)


# --- Comparison with the previous month -----------------------------------------------------------


@dataclass(frozen=True)
class Compared:
    """One figure this month and the month before: `change` is this − previous (rates in
    percentage points, × 100), None when either is missing; `better` says whether the
    change is an improvement (None: no change or no direction)."""

    key: str
    label: str
    now: float | None
    before: float | None
    change: float | None
    better: bool | None
    now_parts: tuple[int, int] | None = None
    before_parts: tuple[int, int] | None = None


def _change(
    now: float | None, before: float | None, lower_is_better: bool = False
) -> tuple[float | None, bool | None]:
    if now is None or before is None:
        return None, None
    change = now - before
    if abs(change) < 1e-12:
        return 0.0, None
    return change, (change < 0) if lower_is_better else (change > 0)


def compare_rates(now: Report, before: Report) -> list[Compared]:
    rows = []
    for key, ind in INDICATORS.items():
        a, b = now.indicators[key], before.indicators[key]
        change, better = _change(a.rate, b.rate, ind.lower_is_better)
        rows.append(
            Compared(
                key,
                str(ind.label),
                a.rate,
                b.rate,
                change,
                better,
                (a.numerator, a.denominator),
                (b.numerator, b.denominator),
            )
        )
    return rows


def compare_volumes(now: Report, before: Report) -> list[Compared]:
    from yunbao.insight.exports import measure_label

    rows = []
    for m in VOLUMES:
        a, b = now.counts.get(m, 0), before.counts.get(m, 0)
        rows.append(Compared(m, measure_label(m), a, b, a - b, None))
    return rows


def compare_durations(now: Report, before: Report) -> list[Compared]:
    rows = []
    for stage in DurationStage:
        a, b = now.durations.get(stage.value), before.durations.get(stage.value)
        mean_a = a.mean_seconds if a else None
        mean_b = b.mean_seconds if b else None
        change, better = _change(mean_a, mean_b, lower_is_better=True)
        rows.append(Compared(stage.value, str(stage.label), mean_a, mean_b, change, better))
    return rows


def compare_scores(now: Report, before: Report) -> list[Compared]:
    rows = []
    for value, label in Score.choices:
        if value in now.scores:
            a, b = now.scores.get(value), before.scores.get(value)
            change, better = _change(a, b)
            rows.append(Compared(value, str(label), a, b, change, better))
    return rows


# --- Peers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    position: int
    key: Any
    name: str
    score: float | None
    reports: int
    me: bool


def _ranked_by_score(groups: dict[Any, dict[str, int]], score: str, w: Any) -> list[Ranked]:
    ranked = []
    for key, c in groups.items():
        r = build_report(c, None, w)
        ranked.append(Ranked(key, r, r.scores.get(score)))
    return sorted(ranked, key=lambda x: (x.score is None, -(x.score or 0), str(x.key)))


def peers_of(
    subject: Subject, month_filter: Filter, base: Filter, covers: Any, w: Any
) -> list[Peer]:
    """The subject's peers this month, best first, within what the viewer may see.
    `month_filter` is the subject's filter for the month, `base` the viewer's (with the
    month's period), `covers(area)` whether the viewer's areas cover an area."""
    if subject.unit is not None:
        ranked = indicators.unit_ranking(replace(base, unit=None), w)
        names: dict[Any, str] = {
            u.pk: str(u) for u in Unit.objects.filter(pk__in=[r.key for r in ranked])
        }
        me: Any = subject.unit.pk
    else:
        area = subject.area
        assert area is not None
        parent = area.parent
        # Peers share the parent; only those the viewer may see (their own areas).
        within = parent if parent is not None and covers(parent) else None
        scope = (
            Filter(start=month_filter.start, end=month_filter.end, area_path=within.path)
            if within is not None
            else base
        )
        prefix = parent.path if parent is not None else ""
        ranked_villages = indicators.village_ranking(scope, w)
        # Only real villages: orders filed under the district have their own path as key.
        villages_in = {
            a.path: a
            for a in Area.objects.filter(
                level=Level.COMMUNITY,
                path__in=[v.key for v in ranked_villages],
                path__startswith=prefix,
            ).select_related("parent")
        }
        villages = [v for v in ranked_villages if v.key in villages_in]
        if area.level == Level.COMMUNITY:
            ranked = villages
        else:
            # Streets: the sums of their villages' counts, scored like a village.
            groups: dict[str, dict[str, int]] = {}
            for v in villages:
                street = villages_in[v.key].parent
                if street is None or street.level != Level.STREET:
                    continue
                into = groups.setdefault(street.path, dict.fromkeys(MEASURES, 0))
                for m in MEASURES:
                    into[m] += v.report.counts.get(m, 0)
            ranked = _ranked_by_score(groups, Score.AREA, w)
        names = {
            a.path: a.display_name for a in Area.objects.filter(path__in=[r.key for r in ranked])
        }  # fmt: skip
        me = area.path
    return [
        Peer(
            i, r.key, names.get(r.key, str(r.key)), r.score, r.report.counts["reports"], r.key == me
        )
        for i, r in enumerate(ranked, start=1)
    ]


# --- The composite score --------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One weighted indicator of a composite score: its weight, its value on 0–1 (1 − rate
    for a rate that should be low), and the points it adds (weight share × value × 100)."""

    key: str
    label: str
    weight: float
    share: float | None
    value: float | None
    points: float | None


def components(report: Report, score_weights: dict[str, float]) -> list[Component]:
    total = sum(
        w
        for k, w in score_weights.items()
        if w and k in report.indicators and report.indicators[k].rate is not None
    )
    result = []
    for key, weight in score_weights.items():
        ind = INDICATORS[key]
        rate = report.indicators[key].rate
        value = None if rate is None else (1 - rate if ind.lower_is_better else rate)
        share = weight / total if total and value is not None and weight else None
        points = None if share is None or value is None else 100 * share * value
        result.append(Component(key, str(ind.label), weight, share, value, points))
    return result


# --- Charts ---------------------------------------------------------------------------------------

# The bar charts sit in half an A4 column (about 85 mm): a 360-unit box keeps their 11-unit
# text at about print size.
BAR_W, BAR_LABEL, BAR_ROW = 360, 120, 24


def bars_chart(
    items: Sequence[tuple[str, float | None, str, bool]], top: float | None = None
) -> dict[str, Any]:
    """Horizontal bars: (label, value, text shown, highlighted) → SVG geometry."""
    most = top or max((v for _l, v, _t, _h in items if v), default=0) or 1
    inner = BAR_W - BAR_LABEL - 44
    rows = []
    for i, (label, value, text, mark) in enumerate(items):
        y = 6 + i * BAR_ROW
        w = 0 if value is None else max(0.0, inner * min(value, most) / most)
        rows.append(
            {
                "label": label,
                "y": y,
                "text_y": y + BAR_ROW / 2,
                "w": round(w, 1),
                "x_text": round(BAR_LABEL + w + 6, 1),
                "text": text,
                "mark": mark,
            }
        )
    return {
        "w": BAR_W,
        "h": 12 + BAR_ROW * len(items),
        "left": BAR_LABEL,
        "bar_h": BAR_ROW - 8,
        "rows": rows,
    }


def durations_chart(report: Report) -> dict[str, Any]:
    """Each stage's mean and 90th percentile as two bars (hours), on one scale."""
    from yunbao.insight.views import duration_text

    top = max((d.p90_seconds or d.mean_seconds or 0 for d in report.durations.values()), default=0)
    label_w = 84
    inner = BAR_W - label_w - 56
    rows = []
    for i, stage in enumerate(DurationStage):
        d = report.durations.get(stage.value)
        y = 6 + i * 2 * BAR_ROW
        mean = d.mean_seconds if d else None
        p90 = d.p90_seconds if d else None

        def width(s: float | None) -> float:
            return 0.0 if not s or not top else round(inner * s / top, 1)

        rows.append(
            {
                "label": str(stage.label),
                "y": y,
                "mean_w": width(mean),
                "p90_w": width(p90),
                "mean_text": duration_text(mean),
                "p90_text": duration_text(p90),
                "n": d.n if d else 0,
            }
        )
    return {
        "w": BAR_W,
        "h": 12 + 2 * BAR_ROW * len(DurationStage),
        "left": label_w,
        "bar_h": BAR_ROW - 9,
        "row": BAR_ROW,
        "rows": rows,
        "empty": not top,
    }


def peers_chart(peers: Sequence[Peer]) -> dict[str, Any]:
    """The first `PEERS_SHOWN` peers, and the subject where it ranks lower."""
    shown = list(peers[:PEERS_SHOWN])
    if not any(p.me for p in shown):
        shown += [p for p in peers if p.me]
    return bars_chart(
        [
            (
                f"{p.position}. {p.name}",
                p.score,
                "—" if p.score is None else f"{p.score:.1f}",
                p.me,
            )
            for p in shown
        ],
        top=100,
    )


def score_chart(parts: Sequence[Component]) -> dict[str, Any]:
    """The score as one stacked bar of its components' points (out of 100)."""
    inner = BAR_W - 20
    x = 10.0
    segments = []
    for i, c in enumerate(parts):
        if not c.points:
            continue
        w = inner * c.points / 100
        segments.append(
            {"x": round(x, 1), "w": round(w, 1), "label": c.label, "points": c.points, "n": i}
        )
        x += w
    return {"w": BAR_W, "h": 40, "inner": inner, "segments": segments}


# --- The report ---------------------------------------------------------------------------------


@dataclass
class Monthly:
    subject: Subject
    start: dt.date
    end: dt.date
    previous_start: dt.date
    previous_end: dt.date
    filter: Filter
    now: Report
    before: Report
    days: list[tuple[dt.date, Report]]
    peers: list[Peer]
    weights: dict[str, float]
    components: list[Component]
    rates: list[Compared] = field(default_factory=list)
    volumes: list[Compared] = field(default_factory=list)
    durations: list[Compared] = field(default_factory=list)
    scores: list[Compared] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        return self.now.scores.get(self.subject.score)

    @property
    def previous_score(self) -> float | None:
        return self.before.scores.get(self.subject.score)

    @property
    def position(self) -> Peer | None:
        return next((p for p in self.peers if p.me), None)


def monthly(subject: Subject, month: dt.date, base: Filter, covers: Any) -> Monthly:
    """The report of `subject` for `month`'s month, within `base` (the viewer's areas, no
    period); `covers(area)` tells whether the viewer's areas cover an area."""
    from yunbao.insight.views import every_period

    start, end = month_bounds(month)
    previous_start, previous_end = month_bounds(previous_month(start))
    w = indicators.weights()
    f = replace(subject_filter(subject, base), start=start, end=end)
    board = indicators.dashboard(f)
    now = board.report
    before = indicators.report(replace(f, start=previous_start, end=previous_end), score_weights=w)
    peers = peers_of(subject, f, replace(base, start=start, end=end), covers, w)
    score_weights = w[subject.score]
    return Monthly(
        subject=subject,
        start=start,
        end=end,
        previous_start=previous_start,
        previous_end=previous_end,
        filter=f,
        now=now,
        before=before,
        days=every_period(board.by_day, start, end, "day"),
        peers=peers,
        weights=score_weights,
        components=components(now, score_weights),
        rates=compare_rates(now, before),
        volumes=compare_volumes(now, before),
        durations=compare_durations(now, before),
        scores=compare_scores(now, before),
    )
