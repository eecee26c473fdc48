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
The database narrows the search with a latitude/longitude bounding box of the radius (the
`(lat, lon)` index, searched by latitude range: a fraction of a millisecond in a district of
50,000 open orders; on SQLite the query says so, see `_candidate_rows`); the exact
great-circle (haversine) distance is computed here. Only the columns the score and the
callers need are read (`CANDIDATE_FIELDS`; any other field of a candidate's order loads on
access): building full orders with their category cost more than the search itself.

The score (0–1), as the dispatcher sees it
------------------------------------------
Three parts, each 0–1::

    near   = 1 − max(0, distance − 25 m) / (radius − 25 m)
             (1 within 25 m, a phone's GPS error; falls linearly to 0 at the radius)
    recent = 1 − hours apart / window        (1 at once, 0 at the end of the window)
    text   = min(1, similarity / 0.7)        (a similarity of 0.7 or more counts in full)

    score  = (0.45 × text + 0.25 × near + 0.30 × recent) × category factor

`similarity` is the cosine of TF-IDF vectors of character 1–3-grams (what scikit-learn's
`TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3))` computes, fitted on the new text
and the candidates' texts), so Chinese needs no word segmentation: "路边有垃圾" and
"垃圾堆在路口" share "垃圾". Punctuation and spacing are ignored. When either text is empty
the similarity is reported as 0.0 and the text part counts as a neutral 0.5. The vectors are
computed here in plain Python (`_tfidf_cosines`): for a handful of short texts scikit-learn's
input checks and sparse matrices cost twenty times the arithmetic; a test keeps the two
equal.

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
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import connections
from django.db.models import Q

from yunbao.geo.coords import EARTH_RADIUS_M, haversine_m
from yunbao.workorders.models import OPEN_STATUSES, WorkOrder, WorkOrderQuerySet

__all__ = [
    "CANDIDATE_FIELDS",
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
# The character n-grams compared, within words (as scikit-learn's `char_wb`).
NGRAM_RANGE = (1, 3)
# What a candidate's order is read with: the score's inputs, and what intake's merge and
# suggestion use (`number`, `status`). Other fields load on access.
CANDIDATE_FIELDS = ("number", "status", "category", "description", "lat", "lon", "created_at")
# At most this many orders within the radius (the nearest) are scored for a new report.
MAX_COMPARED = 50


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


# A box: (south, north) and the longitude ranges it spans (None: every longitude).
_Box = tuple[tuple[float, float], list[tuple[float, float]] | None]


def _box(lat: float, lon: float, radius_m: float) -> _Box:
    """The latitude range and longitude ranges of a box containing every point within
    `radius_m` of (lat, lon).

    Exact on the sphere: the circle's widest longitude is asin(sin(r/R) / cos(lat)), a little
    more than the usual (r/R) / cos(lat). Near a pole the box spans every longitude; across
    the antimeridian it is two ranges.
    """
    angle = radius_m / EARTH_RADIUS_M
    # A hair of slack so a point exactly on the radius is not lost to rounding.
    dlat = math.degrees(angle) + 1e-9
    latitudes = (lat - dlat, lat + dlat)
    cos_lat = math.cos(math.radians(lat))
    if lat + dlat >= 90 or lat - dlat <= -90 or math.sin(angle) >= cos_lat:
        return latitudes, None
    dlon = math.degrees(math.asin(math.sin(angle) / cos_lat)) + 1e-9
    west, east = lon - dlon, lon + dlon
    if west < -180:
        return latitudes, [(west + 360, 180.0), (-180.0, east)]
    if east > 180:
        return latitudes, [(west, 180.0), (-180.0, east - 360)]
    return latitudes, [(west, east)]


def _bounding_box(lat: float, lon: float, radius_m: float) -> Q:
    """`_box` as a filter (longitudes are within ±180 by the table's constraint)."""
    (south, north), longitudes = _box(lat, lon, radius_m)
    box = Q(lat__gte=south, lat__lte=north)
    if longitudes is None:
        return box
    spans = Q()
    for west, east in longitudes:
        spans |= Q(lon__gte=west, lon__lte=east)
    return box & spans


def _normalise(text: str) -> str:
    # NFKC folds full-width letters and digits ("ＡＢ１" → "AB1"); separators become single
    # spaces so char_wb n-grams never straddle punctuation.
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def _char_wb_ngrams(text: str) -> Counter[str]:
    """The character 1–3-grams of each word padded with a space, counted (`char_wb`).

    Exactly scikit-learn's `_char_wb_ngrams` on an already normalised text: a word shorter
    than n yields itself padded once ("a" → " a " for n = 3), never a shorter gram twice.
    """
    # Collected in a list and counted once: Counter's counting loop runs in C, and this
    # runs for every candidate of every report.
    grams: list[str] = []
    low, high = NGRAM_RANGE
    for word in text.split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if length <= n:
                grams.append(padded)
                break
            grams.extend([padded[start : start + n] for start in range(length - n + 1)])
    return Counter(grams)


def _tfidf_cosines(texts: list[str]) -> list[float]:
    """The cosine of `texts[0]` with each of `texts[1:]` under TF-IDF fitted on `texts`.

    As `TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3))`: raw counts, smooth idf
    (ln((1 + n) / (1 + df)) + 1), rows L2-normalised. Every text must be non-empty.
    """
    counts = [_char_wb_ngrams(text) for text in texts]
    frequency: Counter[str] = Counter()
    for grams in counts:
        frequency.update(grams.keys())
    n = len(texts) + 1
    idf = {gram: math.log(n / (df + 1)) + 1.0 for gram, df in frequency.items()}
    vectors = []
    for grams in counts:
        weights = {gram: count * idf[gram] for gram, count in grams.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        vectors.append((weights, norm))
    new, new_norm = vectors[0]
    cosines = []
    for weights, norm in vectors[1:]:
        shared = new.keys() & weights.keys()
        dot = sum(new[gram] * weights[gram] for gram in shared)
        cosines.append(dot / (new_norm * norm) if new_norm and norm else 0.0)
    return cosines


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
    cosines = _tfidf_cosines([new, *(cleaned[i] for i in filled)])
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
    index, which matches nearly every row). No ORDER BY: the caller sorts.
    """
    return WorkOrder.objects.open().filter(_bounding_box(lat, lon, radius_m)).order_by()


def _candidate_query(
    box: _Box,
    *,
    since: datetime,
    until: datetime,
    category_id: int | None,
    exclude_id: int | None,
) -> tuple[str, list[Any]]:
    """The SQL and parameters of: open orders in the box reported in [since, until], of the
    category or none, reading the id and `CANDIDATE_FIELDS` only.

    Written as SQL because the ORM took longer to compile this query than the database
    to run it (every decision runs it; the rows are those of `_open_near(...).filter(...)`,
    which `test_dedupe` compares it with), and to choose its plan (below). Plain SQL that
    SQLite and PostgreSQL read alike; parameters are adapted by the connection's own
    operations, as the ORM does.
    """
    meta = WorkOrder._meta
    ops = connections[WorkOrder.objects.db].ops
    columns = {f.name: f.column for f in meta.concrete_fields if f.column}

    def column(name: str) -> str:
        return ops.quote_name(columns[name])

    # SQLite without table statistics (no ANALYZE yet: a new or busy database) prefers the
    # (status, created_at) index, which reads every open order of the window — the whole
    # district — for each report. The search by position is the one to make: the unary +
    # (a no-op to SQLite) keeps the status and time terms off any index, so the
    # (lat, lon) index is used with or without statistics, as ANALYZE would choose. (So
    # does the category test: its index holds a category's orders of every year.)
    # PostgreSQL keeps its statistics up to date itself (and has no unary + for text).
    unindexed = "+" if ops.connection.vendor == "sqlite" else ""
    (south, north), longitudes = box
    where = [
        f"{unindexed}{column('status')} IN ({', '.join(['%s'] * len(OPEN_STATUSES))})",
        f"{column('lat')} >= %s AND {column('lat')} <= %s",
        f"{unindexed}{column('created_at')} >= %s AND {unindexed}{column('created_at')} <= %s",
    ]
    params: list[Any] = [
        *OPEN_STATUSES,
        south,
        north,
        ops.adapt_datetimefield_value(since),
        ops.adapt_datetimefield_value(until),
    ]
    if longitudes is not None:
        lon = column("lon")
        where.append("(" + " OR ".join(f"({lon} >= %s AND {lon} <= %s)" for _ in longitudes) + ")")
        params += [bound for span in longitudes for bound in span]
    if category_id is not None:
        # Uncategorised orders stay in: nobody has said they are something else.
        category = unindexed + column("category")
        where.append(f"({category} = %s OR {category} IS NULL)")
        params.append(category_id)
    if exclude_id is not None:
        where.append(f"{column('id')} <> %s")
        params.append(exclude_id)
    # On SQLite the unary + also hides the column's declared type, so the driver hands the
    # time back as text instead of calling Django's Python converter on every row;
    # `_as_order` parses it (with `fromisoformat`, in C) only for rows within the radius.
    fields = ", ".join(
        (unindexed if name == "created_at" else "") + column(name)
        for name in ("id", *CANDIDATE_FIELDS)
    )
    # Only quoted names and placeholders are formatted in; every value is a parameter.
    sql = f"SELECT {fields} FROM {ops.quote_name(meta.db_table)} WHERE {' AND '.join(where)}"  # noqa: S608
    return sql, params


def _fetch(
    box: _Box,
    *,
    since: datetime,
    until: datetime,
    category_id: int | None,
    exclude_id: int | None,
) -> list[tuple[Any, ...]]:
    """The candidate rows as plain tuples (id, *CANDIDATE_FIELDS): most are dropped by the
    exact distance, so model instances are made only for the rest (`_as_order`)."""
    sql, params = _candidate_query(
        box, since=since, until=until, category_id=category_id, exclude_id=exclude_id
    )
    with connections[WorkOrder.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_CREATED_AT = 1 + CANDIDATE_FIELDS.index("created_at")
_LAT, _LON = 1 + CANDIDATE_FIELDS.index("lat"), 1 + CANDIDATE_FIELDS.index("lon")
_DESCRIPTION = 1 + CANDIDATE_FIELDS.index("description")
_CATEGORY = 1 + CANDIDATE_FIELDS.index("category")
_LOADED = (
    "id",
    *(f.attname for f in WorkOrder._meta.concrete_fields if f.name in CANDIDATE_FIELDS),
)


def _as_order(row: tuple[Any, ...]) -> WorkOrder:
    """A (partly loaded) order from a `_fetch` row.

    Django's generic row converters cost more than the query (SQLite returns datetimes as
    ISO text); stored values are always UTC, so one `fromisoformat` does the same.
    """
    return WorkOrder.from_db(WorkOrder.objects.db, list(_LOADED), _with_aware_time(row))


def _with_aware_time(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """`row` with its reporting time as an aware datetime (stored values are UTC)."""
    created = row[_CREATED_AT]
    if isinstance(created, datetime) and created.tzinfo is not None:
        return row
    if isinstance(created, str):
        created = datetime.fromisoformat(created)
    # SQLite hands back naive UTC (as text, or parsed by its declared-type converter).
    created = created.replace(tzinfo=UTC)
    return (*row[:_CREATED_AT], created, *row[_CREATED_AT + 1 :])


def _candidate_rows(
    box: _Box,
    *,
    since: datetime,
    until: datetime,
    category_id: int | None,
    exclude_id: int | None,
) -> list[WorkOrder]:
    """Every candidate row as a (partly loaded) order; other fields load on access."""
    rows = _fetch(box, since=since, until=until, category_id=category_id, exclude_id=exclude_id)
    return [_as_order(row) for row in rows]


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
    rows = _fetch(
        _box(lat, lon, radius),
        since=at - timedelta(hours=window),
        until=at,
        category_id=category_id,
        exclude_id=exclude_id,
    )
    within = [
        (row, distance)
        for row in rows
        if (distance := haversine_m(lat, lon, row[_LAT], row[_LON])) <= radius
    ]
    if not within:
        return []
    if len(within) > MAX_COMPARED:
        # A hot spot (a market, a flood of reports about one event): compare the text with
        # the nearest only, so one report never costs more than MAX_COMPARED comparisons.
        within.sort(key=lambda item: item[1])
        del within[MAX_COMPARED:]
    similarities = text_similarities(text, [row[_DESCRIPTION] or "" for row, _ in within])
    scored = []
    for (row, distance), similarity in zip(within, similarities, strict=True):
        row = _with_aware_time(row)
        hours = max(0.0, (at - row[_CREATED_AT]).total_seconds() / 3600)
        same_category = category_id is not None and row[_CATEGORY] == category_id
        score = score_of(
            distance_m=distance,
            hours_apart=hours,
            similarity=similarity,
            same_category=same_category,
            radius_m=radius,
            window_hours=window,
        )
        scored.append((row, distance, similarity, hours, score, same_category))
    # Ties go to the nearer, then the older order (the one others were merged into first).
    # Orders are made for the kept ones only.
    scored.sort(key=lambda s: (-s[4], s[1], s[0][_CREATED_AT], s[0][0]))
    return [
        Candidate(
            order=_as_order(row),
            distance_m=distance,
            text_similarity=0.0 if similarity is None else similarity,
            hours_apart=hours,
            score=score,
            same_category=same_category,
            text_compared=similarity is not None,
        )
        for row, distance, similarity, hours, score, same_category in scored[:limit]
    ]


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
    rows = _open_near(lat, lon, radius).select_related("category")
    if category_id is not None:
        rows = rows.filter(category_id=category_id)
    found = [(order, haversine_m(lat, lon, order.lat, order.lon)) for order in rows]
    found = [(order, distance) for order, distance in found if distance <= radius]
    found.sort(key=lambda item: (item[1], item[0].pk))
    return found[:limit]


def warm_up() -> None:
    """Kept for the callers that warm a worker up: the text comparison is plain Python now
    and needs no import (scikit-learn took ≈1.5 s), so one comparison is all it does."""
    text_similarities("预热", ["warm up"])
