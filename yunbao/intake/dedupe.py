"""Duplicate detection: is a new report one that is already open nearby?

`find_candidates` lists the open orders that may be the same problem as a new report and
scores each; `decide` turns the best score into merge / suggest / none; `nearby_open` lists
open orders around a point for the reporter's "is it one of these?" list before sending.

Which orders are candidates
---------------------------
Open orders (`WorkOrder.objects.open()`, so never merged ones) reported within the window
(`YUNBAO_DEDUPE_WINDOW_HOURS`) before the new report and within the radius
(`YUNBAO_DEDUPE_RADIUS_M`) of it. When the new report has a category, orders of another
category are not candidates (orders still without a category are, with the penalty below).
The database narrows the search with a latitude/longitude bounding box of the radius; the
exact great-circle (haversine) distance is computed here.

The score (0–1), as the dispatcher sees it
------------------------------------------
Three parts, each 0–1::

    near   = 1 − max(0, distance − 25 m) / (radius − 25 m)
             (1 within 25 m, a phone's GPS error; falls linearly to 0 at the radius)
    recent = 1 − hours apart / window        (1 at once, 0 at the end of the window)
    text   = min(1, similarity / 0.7)        (a similarity of 0.7 or more counts in full)

    score  = (0.45 × text + 0.25 × near + 0.30 × recent) × category factor

`similarity` is the cosine of TF-IDF vectors of character 1–3-grams (scikit-learn's
`TfidfVectorizer(analyzer="char_wb")`, fitted on the new text and the candidates' texts), so
Chinese needs no word segmentation: "路边有垃圾" and "垃圾堆在路口" share "垃圾".
Punctuation and spacing are ignored. When either text is empty the similarity is reported
as 0.0 and the text part counts as a neutral 0.5.

The category factor is 1 for the same category and 0.8 when either category is unknown.

`decide` merges automatically from `YUNBAO_DEDUPE_AUTO_MERGE_SCORE` (0.85) and suggests
from `YUNBAO_DEDUPE_SUGGEST_SCORE` (0.5). What that means with the default settings:

- a merge needs wording that is clearly alike (similarity ≥ 0.47 even on the very spot at
  once); paraphrases of a short complaint ("路灯不亮" / "晚上路灯坏了，很黑") share too few
  characters to tell them from another problem at the same spot, so they are suggested;
- a report without text, or without a category, is at most suggested (0.775 and 0.8);
- the same words two days later are at most suggested (0.80): it may happen again (garbage
  dumped anew) while the first order waits;
- place and time alone give up to 0.55, so a near, recent order of the same category is
  suggested as soon as the texts share a little.

`bench/dedupe.py` measures precision and recall on a labelled synthetic set; these weights
were chosen on it (auto-merge precision ≥ 0.98 over five random sets).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db.models import Q

from yunbao.workorders.models import WorkOrder, WorkOrderQuerySet

__all__ = [
    "Candidate",
    "Decision",
    "decide",
    "find_candidates",
    "haversine_m",
    "nearby_open",
    "score_of",
    "text_similarities",
]

# Mean Earth radius (IUGG), metres: a sphere is within 0.5 % of the ellipsoid, far below the
# error of a phone's position.
EARTH_RADIUS_M = 6_371_008.8

# The weights of the score's parts; they add up to 1 so the score stays within 0–1.
W_TEXT = 0.45
W_NEAR = 0.25
W_RECENT = 0.30
# Distances up to this count as the same spot: phones are often 10–30 m off.
SAME_SPOT_M = 25.0
# A similarity from this counts in full. Lower, and two problems at one spot described
# with the same stock phrases ("麻烦处理一下，……已经好几天了") reach a merge; higher, and
# only word-for-word repeats do.
FULL_SIMILARITY = 0.7
# The text part when it cannot be judged (a text is empty): neither for nor against.
NEUTRAL_TEXT = 0.5
# Category factor when the report's or the candidate's category is unknown.
UNKNOWN_CATEGORY_FACTOR = 0.8

# Anything that is not a letter or digit separates n-grams (punctuation, emoji, spaces).
_SEPARATORS = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Candidate:
    """An open order that may be the same problem as the new report, with its score."""

    order: WorkOrder
    distance_m: float
    text_similarity: float
    hours_apart: float
    score: float
    # Whether both have a category (then it is the same one); False adds the penalty.
    same_category: bool = True
    # Whether both texts were non-empty, so `text_similarity` means something.
    text_compared: bool = True

    @property
    def reasons(self) -> dict[str, Any]:
        """The figures behind the score, rounded for people (the dispatcher's "why")."""
        return {
            "distance": round(self.distance_m, 1),
            "similarity": round(self.text_similarity, 2),
            "hours": round(self.hours_apart, 1),
            "score": round(self.score, 3),
            "same_category": self.same_category,
            "text_compared": self.text_compared,
        }


@dataclass(frozen=True)
class Decision:
    """What to do with a new report: merge into `candidate`, suggest it, or nothing.

    `candidate` is the best candidate for "merge" and "suggest" and None for "none";
    `reasons` describes the best candidate whatever the kind (empty when there was none), so
    a log line can say how close a "none" came.
    """

    kind: Literal["merge", "suggest", "none"]
    candidate: Candidate | None
    reasons: dict[str, Any]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points (on the mean sphere)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _bounding_box(lat: float, lon: float, radius_m: float) -> Q:
    """A lat/lon box containing every point within `radius_m` of (lat, lon).

    Exact on the sphere: the circle's widest longitude is asin(sin(r/R) / cos(lat)), a little
    more than the usual (r/R) / cos(lat). Near a pole the box spans every longitude; across
    the antimeridian it is two ranges.
    """
    angle = radius_m / EARTH_RADIUS_M
    # A hair of slack so a point exactly on the radius is not lost to rounding.
    dlat = math.degrees(angle) + 1e-9
    box = Q(lat__gte=lat - dlat, lat__lte=lat + dlat)
    cos_lat = math.cos(math.radians(lat))
    if lat + dlat >= 90 or lat - dlat <= -90 or math.sin(angle) >= cos_lat:
        return box
    dlon = math.degrees(math.asin(math.sin(angle) / cos_lat)) + 1e-9
    west, east = lon - dlon, lon + dlon
    if west < -180:
        return box & (Q(lon__gte=west + 360) | Q(lon__lte=east))
    if east > 180:
        return box & (Q(lon__gte=west) | Q(lon__lte=east - 360))
    return box & Q(lon__gte=west, lon__lte=east)


def _normalise(text: str) -> str:
    # NFKC folds full-width letters and digits ("ＡＢ１" → "AB1"); separators become single
    # spaces so char_wb n-grams never straddle punctuation.
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def text_similarities(text: str, others: list[str]) -> list[float | None]:
    """Cosine similarity of `text` with each of `others` (None where either is empty).

    TF-IDF of character 1–3-grams within words (`char_wb`), fitted on these texts only: an
    n-gram shared by every candidate nearby ("垃圾" on a street of garbage reports) says
    less than one only the new report and one candidate share.
    """
    new = _normalise(text)
    cleaned = [_normalise(o) for o in others]
    if not new:
        return [None] * len(others)
    filled = [i for i, o in enumerate(cleaned) if o]
    result: list[float | None] = [None] * len(others)
    if not filled:
        return result
    # Imported here: scikit-learn takes a second to import and most processes never dedupe.
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3))
    matrix = vectoriser.fit_transform([new, *(cleaned[i] for i in filled)])
    # Rows are L2-normalised, so the dot product is the cosine.
    cosines = (matrix[1:] @ matrix[0].T).toarray().ravel()
    for i, cosine in zip(filled, cosines, strict=True):
        result[i] = float(min(1.0, max(0.0, cosine)))
    return result


def score_of(
    *,
    distance_m: float,
    hours_apart: float,
    similarity: float | None,
    same_category: bool,
    radius_m: float,
    window_hours: float,
) -> float:
    """The score of the module docstring; `similarity` None means the text was not judged."""
    span = max(radius_m - SAME_SPOT_M, 1e-9)
    near = 1.0 - min(1.0, max(0.0, distance_m - SAME_SPOT_M) / span)
    recent = 1.0 - min(1.0, max(0.0, hours_apart) / window_hours) if window_hours > 0 else 0.0
    text = NEUTRAL_TEXT if similarity is None else min(1.0, similarity / FULL_SIMILARITY)
    score = W_TEXT * text + W_NEAR * near + W_RECENT * recent
    if not same_category:
        score *= UNKNOWN_CATEGORY_FACTOR
    return max(0.0, min(1.0, score))


def _open_near(lat: float, lon: float, radius_m: float) -> WorkOrderQuerySet:
    """Open orders in the bounding box of the circle (the SQL prefilter).

    A merged order is never open, so no test of `duplicate_of` (SQLite would pick its
    index, which matches nearly every row). No ORDER BY: the caller sorts by score.
    """
    return (
        WorkOrder.objects.open()
        .filter(_bounding_box(lat, lon, radius_m))
        .select_related("category")
        .order_by()
    )


def find_candidates(
    *,
    lat: float,
    lon: float,
    category_id: int | None,
    text: str,
    at: datetime,
    exclude_id: int | None = None,
    radius_m: float | None = None,
    window_hours: float | None = None,
    limit: int = 5,
) -> list[Candidate]:
    """Open orders that may be the same problem as a report at (lat, lon), best first.

    `at` is when the report was made: candidates were reported within the window before it.
    `exclude_id` leaves out the new report's own order when it is already saved.
    """
    radius = float(settings.YUNBAO_DEDUPE_RADIUS_M if radius_m is None else radius_m)
    window = float(settings.YUNBAO_DEDUPE_WINDOW_HOURS if window_hours is None else window_hours)
    if radius <= 0 or window <= 0 or limit <= 0:
        return []
    rows = _open_near(lat, lon, radius).filter(
        created_at__gte=at - timedelta(hours=window), created_at__lte=at
    )
    if category_id is not None:
        # Uncategorised orders stay in: nobody has said they are something else.
        rows = rows.filter(Q(category_id=category_id) | Q(category__isnull=True))
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)

    near: list[tuple[WorkOrder, float]] = []
    for order in rows:
        distance = haversine_m(lat, lon, order.lat, order.lon)
        if distance <= radius:
            near.append((order, distance))
    if not near:
        return []

    similarities = text_similarities(text, [order.description for order, _ in near])
    candidates = []
    for (order, distance), similarity in zip(near, similarities, strict=True):
        hours = max(0.0, (at - order.created_at).total_seconds() / 3600)
        same_category = category_id is not None and order.category_id == category_id
        candidates.append(
            Candidate(
                order=order,
                distance_m=distance,
                text_similarity=0.0 if similarity is None else similarity,
                hours_apart=hours,
                score=score_of(
                    distance_m=distance,
                    hours_apart=hours,
                    similarity=similarity,
                    same_category=same_category,
                    radius_m=radius,
                    window_hours=window,
                ),
                same_category=same_category,
                text_compared=similarity is not None,
            )
        )
    # Ties go to the nearer, then the older order (the one others were merged into first).
    candidates.sort(key=lambda c: (-c.score, c.distance_m, c.order.created_at, c.order.pk))
    return candidates[:limit]


def decide(
    candidates: list[Candidate],
    *,
    auto_merge_score: float | None = None,
    suggest_score: float | None = None,
) -> Decision:
    """Merge into the best candidate when its score reaches the auto-merge threshold,
    suggest it from the suggest threshold, else nothing (thresholds from settings)."""
    merge_at = float(
        settings.YUNBAO_DEDUPE_AUTO_MERGE_SCORE if auto_merge_score is None else auto_merge_score
    )
    suggest_at = float(
        settings.YUNBAO_DEDUPE_SUGGEST_SCORE if suggest_score is None else suggest_score
    )
    if not candidates:
        return Decision("none", None, {})
    best = max(candidates, key=lambda c: c.score)
    if best.score >= merge_at:
        return Decision("merge", best, best.reasons)
    if best.score >= suggest_at:
        return Decision("suggest", best, best.reasons)
    return Decision("none", None, best.reasons)


def nearby_open(
    *,
    lat: float,
    lon: float,
    category_id: int | None = None,
    radius_m: float | None = None,
    limit: int = 10,
) -> list[tuple[WorkOrder, float]]:
    """Open orders within the radius of a point (of one category when given), nearest first,
    with their distance in metres: the "is it one of these?" list shown before sending."""
    radius = float(settings.YUNBAO_DEDUPE_RADIUS_M if radius_m is None else radius_m)
    if radius <= 0 or limit <= 0:
        return []
    rows = _open_near(lat, lon, radius)
    if category_id is not None:
        rows = rows.filter(category_id=category_id)
    found = [(order, haversine_m(lat, lon, order.lat, order.lon)) for order in rows]
    found = [(order, distance) for order, distance in found if distance <= radius]
    found.sort(key=lambda item: (item[1], item[0].pk))
    return found[:limit]


def warm_up() -> None:
    """Import scikit-learn now (≈1.5 s): web workers call this at start-up."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)).fit_transform(["预热", "warm up"])
