"""The dispatch decision: what is it, whose is it, who goes, and may the machine send them.

`decide(order)` reads and never writes (`actions.auto_dispatch` stores and carries it out):

1. The category: the reporter's choice when they made one (confidence 1.0, source
   "reporter"; the classifier still runs and a confident disagreement, ≥
   `MISMATCH_PROBABILITY` for another category, is flagged as "mismatch" for the
   dispatcher), else the active classifier's top prediction (source "classifier").
2. The route (`routing.route`) for that category in the order's grid (the district's area
   for an order filed outside every grid).
3. The worker (`assign.choose_worker`) of the routed unit, on duty now, nearest first.
4. Whether to act alone. Automatic only when every condition holds; each one that fails
   adds its code to `fallbacks` (and, with its text, to `reasons["fallbacks"]`):

   ==================  ==========================================================
   auto_disabled       `YUNBAO_AUTO_DISPATCH` is off
   not_submitted       the order is no longer waiting to be accepted
   merged              the order was merged into another (a duplicate)
   likely_duplicate    intake suggested it may repeat an open order
   no_category         no category from the reporter or the classifier
   category_manual     the category's `AutoThreshold` switches automation off
   low_confidence      confidence below the category's threshold (when it has an
                       enabled `AutoThreshold`) or `YUNBAO_AUTO_DISPATCH_THRESHOLD`
   outside_grid        the order lies in no grid (filed under the district)
   no_rule             no routing rule names a unit
   nobody_on_duty      nobody of that unit is on duty covering the place
   ==================  ==========================================================

Stored texts (the decision's reasons) are written in the district's language
(`settings.LANGUAGE_CODE`), as intake stores its notes; pages translate the codes again for
whoever reads them (`fallback_text`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.cache import active_category
from yunbao.catalog.models import Category
from yunbao.dispatch import positions, routing
from yunbao.dispatch.assign import NOBODY_ON_DUTY, Assignment, choose_worker, clear_duty_cache
from yunbao.dispatch.models import AutoThreshold
from yunbao.dispatch.routing import Route, route
from yunbao.geo.locate import LocateError, locate
from yunbao.geo.models import Area
from yunbao.intake.models import DuplicateSuggestion
from yunbao.workorders.models import Status, WorkOrder

log = logging.getLogger(__name__)

__all__ = [
    "FALLBACK_TEXTS",
    "MISMATCH_PROBABILITY",
    "Plan",
    "Threshold",
    "clear_caches",
    "current_classifier",
    "decide",
    "fallback_text",
    "threshold_for",
]

# A classifier this sure of another category than the reporter's is worth a second look.
MISMATCH_PROBABILITY = 0.9
# How long a process keeps the per-category thresholds (they change rarely).
THRESHOLDS_TTL = 30.0

AUTO_DISABLED = "auto_disabled"
NOT_SUBMITTED = "not_submitted"
MERGED = "merged"
LIKELY_DUPLICATE = "likely_duplicate"
NO_CATEGORY = "no_category"
CATEGORY_MANUAL = "category_manual"
LOW_CONFIDENCE = "low_confidence"
OUTSIDE_GRID = "outside_grid"
NO_RULE = "no_rule"

FALLBACK_TEXTS: dict[str, Promise] = {
    AUTO_DISABLED: _("Automatic dispatch is switched off."),
    NOT_SUBMITTED: _("The order is no longer waiting to be accepted."),
    MERGED: _("The order was merged into another as a duplicate."),
    LIKELY_DUPLICATE: _("The order may repeat an open one; a dispatcher should look."),
    NO_CATEGORY: _("The category is unknown: the reporter chose none and none was recognised."),
    CATEGORY_MANUAL: _("Automatic dispatch is switched off for this category."),
    LOW_CONFIDENCE: _("The category is not certain enough: %(confidence)s, below %(threshold)s."),
    OUTSIDE_GRID: _("The place lies outside every grid."),
    NO_RULE: _("No routing rule names a responsible unit for this category here."),
    NOBODY_ON_DUTY: _("Nobody of the responsible unit is on duty here now."),
}


def fallback_text(code: str, details: dict[str, Any] | None = None) -> str:
    """The explanation of a fallback code in the active language."""
    text = str(FALLBACK_TEXTS.get(code, code))
    if details and code == LOW_CONFIDENCE:
        text %= {
            "confidence": f"{details['confidence']:.0%}",
            "threshold": f"{details['threshold']:.0%}",
        }
    return text


class Prediction(Protocol):
    """What the classifier says about a text (`yunbao.dispatch.classifier`)."""

    @property
    def category_code(self) -> str: ...
    @property
    def probability(self) -> float: ...
    @property
    def top(self) -> list[tuple[str, float]]: ...


class Classifier(Protocol):
    @property
    def version(self) -> int | None: ...
    def predict_one(self, text: str) -> Prediction: ...


def current_classifier() -> Classifier | None:
    """The active text classifier, or None while there is none (the module or a model)."""
    try:
        from yunbao.dispatch.classifier import active_classifier
    except ModuleNotFoundError as exc:
        if exc.name != "yunbao.dispatch.classifier":
            raise
        return None
    classifier: Classifier | None = active_classifier()
    return classifier


@dataclass(frozen=True)
class Threshold:
    """The confidence needed for automatic dispatch of a category, and where it comes from."""

    value: float
    source: str  # "category" (its AutoThreshold) or "setting" (the global one)
    enabled: bool = True

    def as_reason(self) -> dict[str, Any]:
        return {"value": self.value, "from": self.source, "enabled": self.enabled}


@dataclass(frozen=True)
class Plan:
    """What `decide` concluded; `reasons` is what the decision row and timeline keep."""

    category: Category | None
    confidence: float
    route: Route | None
    assignment: Assignment | None
    automatic: bool
    reasons: dict[str, Any]
    fallbacks: list[str]
    # Where the order was routed (its grid, or the district's area), and the threshold.
    area: Area | None = None
    threshold: Threshold | None = None
    model_version: int | None = None
    # Per-fallback details (e.g. the confidence and threshold of "low_confidence").
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fallback_texts(self) -> list[tuple[str, str]]:
        """(code, explanation in the active language) for each failed condition."""
        return [(code, fallback_text(code, self.details.get(code))) for code in self.fallbacks]


_thresholds_lock = threading.Lock()
_thresholds: tuple[float, dict[int, tuple[float, bool]]] | None = None
# Bumped by every clear, so thresholds read before an edit are not kept after it.
_thresholds_generation = 0


@receiver(post_save, sender=AutoThreshold, dispatch_uid="dispatch-threshold-saved")
@receiver(post_delete, sender=AutoThreshold, dispatch_uid="dispatch-threshold-deleted")
def _threshold_changed(**kwargs: Any) -> None:
    clear_thresholds()


def clear_thresholds() -> None:
    """Forget this process's thresholds; the next decision reads them again."""
    global _thresholds, _thresholds_generation
    with _thresholds_lock:
        _thresholds = None
        _thresholds_generation += 1


def clear_caches() -> None:
    """Forget every per-process copy dispatch keeps: rules, thresholds, who is on duty and
    where they are.

    For tests (a rolled-back test leaves no signal behind) and after bulk loads.
    """
    routing.clear()
    clear_thresholds()
    clear_duty_cache()
    positions.clear_cache()


def threshold_for(category: Category | None) -> Threshold:
    """The category's own threshold when it has one, else the global setting."""
    global _thresholds
    now = time.monotonic()
    cached = _thresholds
    if cached is None or now - cached[0] > THRESHOLDS_TTL:
        generation = _thresholds_generation
        rows = AutoThreshold.objects.values_list("category_id", "threshold", "enabled")
        cached = (now, {cid: (value, enabled) for cid, value, enabled in rows})
        with _thresholds_lock:
            if generation == _thresholds_generation:
                _thresholds = cached
    own = cached[1].get(category.pk) if category is not None else None
    if own is not None:
        return Threshold(own[0], "category", own[1])
    return Threshold(float(settings.YUNBAO_AUTO_DISPATCH_THRESHOLD), "setting")


def _area_of(order: WorkOrder) -> Area | None:
    """The grid, or for an order filed outside every grid the area its path names."""
    if order.grid_id is not None:
        return order.grid
    if order.area_path:
        return Area.objects.filter(path=order.area_path).first()
    return None


def _path_names(order: WorkOrder, area: Area) -> list[str]:
    """The names from the district down to `area` ("测试区", "一街", "一村", "一格")."""
    if order.grid_id is not None:
        # The locator's cached index already knows the grid's ancestors: no query.
        try:
            location = locate(order.lat, order.lon)
        except LocateError:
            location = None
        if location is not None and location.grid.pk == order.grid_id:
            chain = [location.district, location.street, location.community, location.grid]
            return [a.name for a in chain if a is not None]
    return [a.name for a in area.ancestors()]


class _Clock:
    """Adds the time each step takes to `timings` (for the benchmark); free without it."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter() if timings is not None else 0.0

    def lap(self, step: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[step] = self.timings.get(step, 0.0) + now - self.last
            self.last = now


def decide(
    order: WorkOrder,
    *,
    at: datetime | None = None,
    detail: int = 3,
    timings: dict[str, float] | None = None,
) -> Plan:
    """Decide for `order` (saved or not) at `at` (default now); reads, never writes.

    `detail` is how many places of the worker ranking are fully ranked (0: all);
    `timings`, when given, accumulates the seconds spent per step.
    """
    at = at or timezone.now()
    clock = _Clock(timings)
    fallbacks: list[str] = []
    details: dict[str, dict[str, Any]] = {}
    reasons: dict[str, Any] = {}

    # 1. What it is.
    category, confidence, source, prediction, version = _recognise(order)
    reasons["category"] = {
        "code": category.code if category else None,
        "name": category.name if category else None,
        "source": source,
        "confidence": round(confidence, 4),
        "model_version": version,
    }
    if prediction is not None:
        reasons["prediction"] = {
            "code": prediction.category_code,
            "probability": round(prediction.probability, 4),
            "top": [[code, round(p, 4)] for code, p in list(prediction.top)[:3]],
        }
        if (
            source == "reporter"
            and category is not None
            and prediction.category_code != category.code
            and prediction.probability >= MISMATCH_PROBABILITY
        ):
            # Not a fallback: the reporter chose; the dispatcher sees the doubt.
            reasons["mismatch"] = {
                "reported": category.code,
                "predicted": prediction.category_code,
                "probability": round(prediction.probability, 4),
            }
    clock.lap("classify")

    # 2. Whether it is a new, single problem.
    if not settings.YUNBAO_AUTO_DISPATCH:
        fallbacks.append(AUTO_DISABLED)
    if order.status == Status.MERGED or order.duplicate_of_id is not None:
        fallbacks.append(MERGED)
    elif order.status != Status.SUBMITTED:
        fallbacks.append(NOT_SUBMITTED)
    if order.pk is not None and DuplicateSuggestion.objects.filter(order_id=order.pk).exists():
        fallbacks.append(LIKELY_DUPLICATE)
    clock.lap("duplicates")

    # 3. Sure enough?
    threshold = threshold_for(category)
    reasons["threshold"] = threshold.as_reason()
    if category is None:
        fallbacks.append(NO_CATEGORY)
    elif not threshold.enabled:
        fallbacks.append(CATEGORY_MANUAL)
    elif confidence < threshold.value:
        fallbacks.append(LOW_CONFIDENCE)
        details[LOW_CONFIDENCE] = {
            "confidence": confidence,
            "threshold": threshold.value,
            "threshold_from": threshold.source,
        }

    # 4. Where, and whose.
    area = _area_of(order)
    if order.grid_id is None:
        fallbacks.append(OUTSIDE_GRID)
    reasons["grid"] = (
        {"code": area.code, "level": area.level, "path": _path_names(order, area)}
        if area is not None
        else None
    )
    clock.lap("threshold_and_area")
    the_route = route(category, area) if area is not None else None
    reasons["route"] = the_route.reasons if the_route is not None else None
    unit = the_route.unit if the_route is not None else None
    reasons["unit"] = unit.code if unit is not None else None
    if unit is None:
        fallbacks.append(NO_RULE)
    clock.lap("route")

    # 5. Who.
    assignment = None
    if unit is not None and area is not None:
        assignment = choose_worker(unit, (order.lat, order.lon), area, at, detail=detail)
        reasons["assignment"] = assignment.reasons
        if assignment.worker is None:
            fallbacks.append(NOBODY_ON_DUTY)
    clock.lap("assign")

    automatic = not fallbacks
    reasons["automatic"] = automatic
    # Stored texts in the district's language, not whichever language this request has.
    with translation.override(settings.LANGUAGE_CODE):
        reasons["fallbacks"] = [
            {"code": code, "text": fallback_text(code, details.get(code)), **details.get(code, {})}
            for code in fallbacks
        ]
    return Plan(
        category=category,
        confidence=confidence,
        route=the_route,
        assignment=assignment,
        automatic=automatic,
        reasons=reasons,
        fallbacks=fallbacks,
        area=area,
        threshold=threshold,
        model_version=version,
        details=details,
    )


def _recognise(
    order: WorkOrder,
) -> tuple[Category | None, float, str | None, Prediction | None, int | None]:
    """(category, confidence, source, the classifier's prediction, model version)."""
    prediction: Prediction | None = None
    version: int | None = None
    text = order.description.strip()
    if text:
        try:
            classifier = current_classifier()
            if classifier is not None:
                prediction = classifier.predict_one(text)
                version = classifier.version
        except Exception:
            # A broken model must not stop reports: the order goes to the dispatcher.
            log.exception("classifier failed on order %s", order.number or "(new)")
            prediction = None
    if order.category_id is not None:
        return order.category, 1.0, "reporter", prediction, version
    if prediction is not None:
        category = active_category(prediction.category_code)
        if category is not None:
            return category, float(prediction.probability), "classifier", prediction, version
        log.warning("classifier predicted unknown category %r", prediction.category_code)
    return None, 0.0, None, prediction, version
