"""The orders behind any number, and the same figures computed by scanning the orders.

`orders_behind(indicator, f, part)` answers "which orders make up this numerator (or
denominator)?" as a `WorkOrder` queryset; callers apply `.visible_to(user)` on top, so a
person never sees an order they may not, even when the number includes it. It recomputes
each candidate order's facts with the same function the aggregates use
(`facts.facts_of`), so the orders listed are exactly those counted:

- candidates are the orders matching the filter's grid/unit/scene/category/source whose
  timeline has a move in the period or whose current stage deadline falls in it (every
  count is dated by one of those; see `facts`), read in batches;
- an order is behind a part when its terms summed over the period's days are positive
  (for "filed − voided" a voided order nets 0 and is left out). A count per move (dispatch,
  handling and check rounds) may count one order several times: the set lists it once.

`scan(f)` sums the same facts over the candidates: the slow path (every order and
its timeline read per request), kept as the benchmark's baseline and the tests' reference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Literal

from django.db.models import Q
from django.utils import timezone

from yunbao.insight.facts import Facts, bucket_of, facts_of
from yunbao.insight.indicators import INDICATORS, Filter, StageDuration, durations_from
from yunbao.insight.models import MEASURES
from yunbao.insight.store import load
from yunbao.workorders.models import TimelineEntry, WorkOrder, WorkOrderQuerySet

Part = Literal["numerator", "denominator"]


def _bounds(f: Filter) -> tuple[datetime | None, datetime | None]:
    tz = timezone.get_default_timezone()
    lo = datetime.combine(f.start, time.min, tzinfo=tz) if f.start else None
    hi = datetime.combine(f.end + timedelta(days=1), time.min, tzinfo=tz) if f.end else None
    return lo, hi


def _key_q(f: Filter) -> Q:
    q = Q()
    if f.area_path:
        q &= Q(area_path__startswith=f.area_path)
    for name in ("unit", "scene", "category"):
        value = getattr(f, name)
        if value is not None:
            q &= Q(**{f"{name}_id__isnull": True} if value == 0 else {f"{name}_id": value})
    if f.source:
        q &= Q(source=f.source)
    return q


def _range(prefix: str, lo: datetime | None, hi: datetime | None) -> Q:
    q = Q(**{f"{prefix}__isnull": False})
    if lo is not None:
        q &= Q(**{f"{prefix}__gte": lo})
    if hi is not None:
        q &= Q(**{f"{prefix}__lt": hi})
    return q


def candidates(f: Filter) -> WorkOrderQuerySet:
    """Orders that may have a count dated in the filter's period (a superset)."""
    orders = WorkOrder.objects.filter(_key_q(f))
    lo, hi = _bounds(f)
    if lo is None and hi is None:
        return orders
    moved = TimelineEntry.objects.filter(_range("at", lo, hi)).values("order_id")
    due = Q()
    for name in ("accept_due", "dispatch_due", "handle_due", "check_due"):
        due |= _range(name, lo, hi)
    return orders.filter(Q(pk__in=moved) | due)


def _in_period(f: Filter, day: date) -> bool:
    return (f.start is None or day >= f.start) and (f.end is None or day <= f.end)


def _facts(f: Filter, batch: int = 2000) -> Iterator[tuple[int, Facts]]:
    ids = list(candidates(f).order_by("pk").values_list("pk", flat=True))
    for i in range(0, len(ids), batch):
        for order, steps in load(ids[i : i + batch]):
            yield order.pk, facts_of(order, steps)


def _period_counts(f: Filter, facts: Facts) -> Counter[str]:
    total: Counter[str] = Counter()
    for day, c in facts.counts.items():
        if _in_period(f, day):
            total.update(c)
    return total


def orders_behind(indicator: str, f: Filter, part: Part = "numerator") -> WorkOrderQuerySet:
    """The orders counted in `indicator`'s numerator or denominator under `f`."""
    ind = INDICATORS[indicator]
    terms = ind.numerator if part == "numerator" else ((1, ind.denominator),)
    return orders_with(terms, f)


def orders_with(terms: tuple[tuple[int, str], ...], f: Filter) -> WorkOrderQuerySet:
    """Orders whose Σ sign × measure over the period is positive."""
    keep = []
    for pk, facts in _facts(f):
        c = _period_counts(f, facts)
        if sum(sign * c.get(m, 0) for sign, m in terms) > 0:
            keep.append(pk)
    return WorkOrder.objects.filter(pk__in=keep)


def scan(f: Filter) -> tuple[dict[str, int], dict[str, StageDuration]]:
    """Every measure and stage duration under `f`, computed from the orders and their
    timelines in one pass (no aggregates)."""
    total: Counter[str] = Counter()
    rows: Counter[tuple[str, int]] = Counter()
    seconds: Counter[tuple[str, int]] = Counter()
    for _pk, facts in _facts(f):
        total.update(_period_counts(f, facts))
        for day, stage, s in facts.durations:
            if _in_period(f, day):
                key = (stage, bucket_of(s))
                rows[key] += 1
                seconds[key] += s
    durations = durations_from((st, b, n, seconds[(st, b)]) for (st, b), n in rows.items())
    return {m: total.get(m, 0) for m in MEASURES}, durations


def scan_counts(f: Filter) -> dict[str, int]:
    return scan(f)[0]


def scan_durations(f: Filter) -> dict[str, StageDuration]:
    return scan(f)[1]
