"""How long a stage may take: a category's own time limit, or the documented default.

`time_limit(category, stage, urgency)` reads the category's `TimeLimit` rows through
`category.time_limits.all()`, so a caller handling many orders can
`prefetch_related("category__time_limits")` and pay no query per order.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from yunbao.catalog.models import Stage, TimeUnit, Urgency

if TYPE_CHECKING:
    from yunbao.catalog.models import Category

# Used when an order has no category yet, or its category has no row for the stage and
# urgency (one added in the admin without limits). The same values are the shipped
# catalogue's `default_limits`, taken from the city rules in the urban-management standard:
# filing and dispatch within 30 min (urgent: 10 min; 0.17 h, as the column keeps two
# decimals); handling within a working day (urgent: two hours on the clock); checking by the
# inspector within 2 working hours (urgent: one hour).
DEFAULT_LIMITS: Mapping[str, Mapping[str, tuple[Decimal, TimeUnit]]] = {
    Stage.ACCEPT: {
        Urgency.NORMAL: (Decimal("0.5"), TimeUnit.NATURAL_HOURS),
        Urgency.URGENT: (Decimal("0.17"), TimeUnit.NATURAL_HOURS),
    },
    Stage.DISPATCH: {
        Urgency.NORMAL: (Decimal("0.5"), TimeUnit.NATURAL_HOURS),
        Urgency.URGENT: (Decimal("0.17"), TimeUnit.NATURAL_HOURS),
    },
    Stage.HANDLE: {
        Urgency.NORMAL: (Decimal("1"), TimeUnit.WORKING_DAYS),
        Urgency.URGENT: (Decimal("2"), TimeUnit.NATURAL_HOURS),
    },
    Stage.CHECK: {
        Urgency.NORMAL: (Decimal("2"), TimeUnit.WORKING_HOURS),
        Urgency.URGENT: (Decimal("1"), TimeUnit.NATURAL_HOURS),
    },
}


def time_limit(category: Category | None, stage: str, urgency: str) -> tuple[Decimal, TimeUnit]:
    """The (amount, unit) a `stage` may take for `category` at `urgency`.

    Falls back to `DEFAULT_LIMITS` when `category` is None or has no row for the pair.
    Raises ValueError for a stage or urgency that does not exist, since a typo there would
    otherwise silently give the default.
    """
    if stage not in Stage.values:
        raise ValueError(f"unknown stage {stage!r} (expected one of {', '.join(Stage.values)})")
    if urgency not in Urgency.values:
        raise ValueError(
            f"unknown urgency {urgency!r} (expected one of {', '.join(Urgency.values)})"
        )
    if category is not None:
        # .all() rather than .filter(): it is served from a prefetch when there is one.
        for limit in category.time_limits.all():
            if limit.stage == stage and limit.urgency == urgency:
                return limit.amount, TimeUnit(limit.unit)
    return DEFAULT_LIMITS[stage][urgency]
