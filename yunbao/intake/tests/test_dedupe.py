"""Tests of duplicate detection: which open orders are candidates, how they are scored and
ranked, what `decide` makes of them, the "nearby" list, and the benchmark's smoke run."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone

from bench.dedupe import run as run_benchmark
from yunbao.catalog.models import Category
from yunbao.intake.dedupe import (
    CANDIDATE_FIELDS,
    Candidate,
    _normalise,
    decide,
    find_candidates,
    haversine_m,
    nearby_open,
    text_similarities,
)
from yunbao.testing import stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import Status, WorkOrder

# Degrees of latitude per metre on the sphere the module uses (R = 6,371,008.8 m).
DEG_PER_M = 1 / 111_195.08


def report(
    world: Any,
    *,
    north_m: float = 0,
    description: str = "路边有垃圾，很多没人清理",
    category: Any = "default",
    hours_ago: float = 1,
    now: datetime,
    **kw: Any,
) -> WorkOrder:
    """An order filed by Erin `north_m` metres north of world.point1(), `hours_ago` before
    `now` (beyond grid1's northern edge, 55 m on, it is filed under the district)."""
    lat, lon = world.point1()
    return actions.submit(
        actor=world.users["erin"],
        lat=lat + north_m * DEG_PER_M,
        lon=lon,
        description=description,
        category=world.category if category == "default" else category,
        at=now - timedelta(hours=hours_ago),
        allow_outside=True,
        **kw,
    )


def candidates_for(world: Any, now: datetime, **kw: Any) -> list[Candidate]:
    lat, lon = world.point1()
    args: dict[str, Any] = {
        "lat": lat,
        "lon": lon,
        "category_id": world.category.pk,
        "text": "路边垃圾很多，没人清理",
        "at": now,
    }
    args.update(kw)
    return find_candidates(**args)


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def other_category(db: Any) -> Category:
    # A category of the shipped catalogue (loaded by migration), unlike the world's own.
    return Category.objects.get(code="C0118")


def test_it_merges_a_repeat_at_the_same_place_with_similar_words(world: Any, now: datetime) -> None:
    original = report(world, north_m=10, hours_ago=2, now=now)

    candidates = candidates_for(world, now)
    decision = decide(candidates)

    assert [c.order for c in candidates] == [original]
    best = candidates[0]
    assert best.distance_m == pytest.approx(10, abs=0.1)
    assert best.hours_apart == pytest.approx(2, abs=0.01)
    assert best.text_similarity > 0.5
    assert best.same_category
    assert decision.kind == "merge"
    assert decision.candidate == best
    assert decision.reasons["distance"] == pytest.approx(10, abs=0.1)
    assert decision.reasons["hours"] == pytest.approx(2, abs=0.05)
    assert decision.reasons["similarity"] == round(best.text_similarity, 2)
    assert decision.reasons["score"] == round(best.score, 3)
    assert 0.85 <= best.score <= 1


def test_it_finds_nothing_300_m_away(world: Any, now: datetime) -> None:
    report(world, north_m=300, now=now)

    candidates = candidates_for(world, now)

    assert candidates == []
    assert decide(candidates).kind == "none"
    assert decide(candidates).candidate is None


def test_it_leaves_out_another_category_when_the_category_is_given(
    world: Any, now: datetime, other_category: Category
) -> None:
    other = report(world, category=other_category, now=now)
    uncategorised = report(world, category=None, now=now)

    found = [c.order for c in candidates_for(world, now)]

    # Another category is never a candidate; an order nobody has categorised yet may be.
    assert other not in found
    assert found == [uncategorised]


def test_it_takes_any_category_with_a_penalty_when_the_report_has_none(
    world: Any, now: datetime, other_category: Category
) -> None:
    same_words = report(world, north_m=5, category=other_category, hours_ago=0.5, now=now)

    candidates = candidates_for(world, now, category_id=None, text=same_words.description)

    assert [c.order for c in candidates] == [same_words]
    assert not candidates[0].same_category
    assert candidates[0].text_similarity == pytest.approx(1)
    # Identical words on the spot at once, yet without a category it is only suggested.
    assert candidates[0].score == pytest.approx(0.8, abs=0.01)
    assert decide(candidates).kind == "suggest"


def test_it_ignores_closed_and_merged_orders(world: Any, now: datetime) -> None:
    bob, carol = world.users["bob"], world.users["carol"]
    closed = report(world, now=now)
    actions.accept(closed, actor=None)
    actions.dispatch(closed, actor=None, unit=world.unit1, worker=bob)
    actions.start(closed, actor=bob)
    actions.finish(closed, actor=bob, note="cleaned", photos=[stored_photo()])
    actions.verify(closed, actor=carol)
    kept = report(world, now=now)
    merged = report(world, now=now)
    actions.merge(merged, actor=None, into=kept)
    rejected = report(world, now=now)
    actions.reject(rejected, actor=world.users["alice"], note="not ours")

    found = [c.order for c in candidates_for(world, now)]
    nearby = [order for order, _ in nearby_open(lat=world.point1()[0], lon=world.point1()[1])]

    assert closed.status == Status.CLOSED
    assert merged.status == Status.MERGED
    assert found == [kept]
    assert nearby == [kept]


def test_it_only_looks_back_over_the_window(world: Any, now: datetime, settings: Any) -> None:
    settings.YUNBAO_DEDUPE_WINDOW_HOURS = 72
    too_old = report(world, hours_ago=73, now=now)
    in_window = report(world, hours_ago=71, now=now)
    later = report(world, hours_ago=-1, now=now)

    found = [c.order for c in candidates_for(world, now)]

    assert in_window in found
    assert too_old not in found
    # Reported after the new report: not something it could repeat.
    assert later not in found
    assert [c.order for c in candidates_for(world, now, window_hours=80)] == [in_window, too_old]


def test_it_ranks_candidates_by_their_words(world: Any, now: datetime) -> None:
    lamp = report(world, north_m=5, description="晚上路灯坏了，很黑", now=now)
    garbage = report(world, north_m=5, description="这里垃圾很多，没人清理", now=now)

    candidates = candidates_for(world, now)

    assert [c.order for c in candidates] == [garbage, lamp]
    assert candidates[0].text_similarity > candidates[1].text_similarity
    assert candidates[0].score > candidates[1].score
    assert candidates[0].distance_m == pytest.approx(candidates[1].distance_m)


def test_it_scores_an_empty_description_neutrally(world: Any, now: datetime) -> None:
    photo_only = report(world, description="", hours_ago=0, now=now)

    with_text = candidates_for(world, now)
    without_text = candidates_for(world, now, text="  。，")

    for candidates in (with_text, without_text):
        assert [c.order for c in candidates] == [photo_only]
        assert candidates[0].text_similarity == 0.0
        assert not candidates[0].text_compared
        # Place and time in full, the text part at its neutral 0.5: suggested, not merged.
        assert candidates[0].score == pytest.approx(0.45 * 0.5 + 0.25 + 0.30)
        assert decide(candidates).kind == "suggest"


def test_it_leaves_out_the_report_itself(world: Any, now: datetime) -> None:
    new = report(world, hours_ago=0, now=now)

    assert candidates_for(world, now, exclude_id=new.pk) == []
    assert [c.order for c in candidates_for(world, now)] == [new]


def test_it_decides_by_the_thresholds(world: Any, settings: Any) -> None:
    settings.YUNBAO_DEDUPE_AUTO_MERGE_SCORE = 0.85
    settings.YUNBAO_DEDUPE_SUGGEST_SCORE = 0.5

    def candidate(score: float) -> Candidate:
        return Candidate(WorkOrder(), 12.34, 0.456, 3.21, score)

    assert decide([]).kind == "none"
    assert decide([]).reasons == {}
    assert decide([candidate(0.2), candidate(0.85)]).kind == "merge"
    assert decide([candidate(0.849)]).kind == "suggest"
    assert decide([candidate(0.5)]).kind == "suggest"
    weak = decide([candidate(0.499)])
    assert weak.kind == "none"
    assert weak.candidate is None
    # A "none" still says how close the best one came.
    assert weak.reasons == {
        "distance": 12.3,
        "similarity": 0.46,
        "hours": 3.2,
        "score": 0.499,
        "same_category": True,
        "text_compared": True,
    }
    assert decide([candidate(0.6)], suggest_score=0.7).kind == "none"


SIMILARITY_TEXTS = [
    "路边有垃圾，很多没人清理",
    "路边垃圾很多，没人清理",
    "垃圾堆在路口",
    "路灯不亮 晚上很黑!!",
    "ＡＢ１ 井盖丢失 a",
    "I  see a broken street-light, please fix it",
    "a",
    "x y z",
    "麻烦处理一下，已经好几天了",
    "🚧 施工 🚧 噪音",
    "",
    "   ",
]


@pytest.mark.parametrize("first", range(len(SIMILARITY_TEXTS)))
def test_its_text_similarity_is_scikit_learns_tfidf(first: int) -> None:
    """The plain-Python TF-IDF agrees with scikit-learn's `TfidfVectorizer("char_wb")`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = SIMILARITY_TEXTS[first]
    others = [t for i, t in enumerate(SIMILARITY_TEXTS) if i != first]
    ours = text_similarities(text, others)
    new, cleaned = _normalise(text), [_normalise(o) for o in others]
    filled = [i for i, o in enumerate(cleaned) if o]
    expected: list[float | None] = [None] * len(others)
    if new and filled:
        vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3))
        matrix = vectoriser.fit_transform([new, *(cleaned[i] for i in filled)])
        cosines = (matrix[1:] @ matrix[0].T).toarray().ravel()
        for i, cosine in zip(filled, cosines, strict=True):
            expected[i] = float(min(1.0, max(0.0, cosine)))
    assert [o is None for o in ours] == [e is None for e in expected]
    assert ours == pytest.approx(expected, abs=1e-12)


def test_it_reads_few_columns_and_one_query(
    world: Any, now: datetime, django_assert_num_queries: Any
) -> None:
    """One query for the candidates (no category join); the order's other fields still load
    when someone asks for them."""
    original = report(world, now=now, hours_ago=2)
    with django_assert_num_queries(1):
        candidates = candidates_for(world, now)
    assert [c.order for c in candidates] == [original]
    order = candidates[0].order
    assert set(CANDIDATE_FIELDS) <= {f.name for f in WorkOrder._meta.concrete_fields}
    assert order.number == original.number
    assert order.status == Status.SUBMITTED
    with django_assert_num_queries(1):
        assert order.category == world.category  # loaded on access


@pytest.mark.parametrize(
    "centre",
    [(23.0, 113.0), (23.0, 179.9995), (23.0, -179.9995), (89.9995, 10.0), (-45.0, -70.0)],
)
def test_its_sql_finds_what_the_orm_filter_finds(world: Any, now: datetime, centre: Any) -> None:
    """The hand-written candidate query returns exactly the rows of the ORM's filter."""
    import random

    from yunbao.intake.dedupe import _box, _candidate_rows, _open_near

    rng = random.Random(hash(centre) & 0xFFFF)
    lat0, lon0 = centre
    categories = [world.category.pk, Category.objects.get(code="C0118").pk, None]
    statuses = list(Status)
    orders = []
    for i in range(300):
        lon = lon0 + rng.uniform(-0.004, 0.004)
        lon = lon - 360 if lon > 180 else lon + 360 if lon < -180 else lon
        orders.append(
            WorkOrder(
                number=f"T{i:05d}",
                status=rng.choice(statuses),
                category_id=rng.choice(categories),
                description="路边有垃圾",
                lat=max(-90.0, min(90.0, lat0 + rng.uniform(-0.003, 0.003))),
                lon=lon,
                created_at=now - timedelta(hours=rng.uniform(-5, 100)),
            )
        )
    WorkOrder.objects.bulk_create(orders)
    ids = [o.pk for o in WorkOrder.objects.filter(number__startswith="T")]
    for _ in range(15):
        lat = max(-90.0, min(90.0, lat0 + rng.uniform(-0.002, 0.002)))
        lon = lon0 + rng.uniform(-0.002, 0.002)
        lon = lon - 360 if lon > 180 else lon + 360 if lon < -180 else lon
        radius = rng.choice([50.0, 150.0, 400.0])
        since, until = now - timedelta(hours=rng.choice([24, 72])), now
        category_id = rng.choice(categories)
        exclude_id = rng.choice([None, *ids])
        expected = _open_near(lat, lon, radius).filter(created_at__gte=since, created_at__lte=until)
        if category_id is not None:
            expected = expected.filter(Q(category_id=category_id) | Q(category__isnull=True))
        if exclude_id is not None:
            expected = expected.exclude(pk=exclude_id)
        found = _candidate_rows(
            _box(lat, lon, radius),
            since=since,
            until=until,
            category_id=category_id,
            exclude_id=exclude_id,
        )
        rows = {
            o.pk: (o.number, o.status, o.category_id, o.lat, o.lon, o.created_at) for o in found
        }
        assert rows == {
            o.pk: (o.number, o.status, o.category_id, o.lat, o.lon, o.created_at) for o in expected
        }
        assert rows or radius == 50.0  # most searches find something


def test_it_lists_open_orders_nearby_with_their_distances(
    world: Any, now: datetime, other_category: Category
) -> None:
    lat, lon = world.point1()
    at_100 = report(world, north_m=0, now=now)
    at_50 = report(world, north_m=50, now=now)
    lamp = report(world, north_m=80, category=other_category, now=now)
    report(world, north_m=300, now=now)

    # 0.0009° of latitude further north than at_100's point.
    nearby = nearby_open(lat=lat + 0.0009, lon=lon, radius_m=150)

    assert [order for order, _ in nearby] == [lamp, at_50, at_100]
    # The great-circle distance of 0.0009° of latitude: 6,371,008.8 m × 0.0009 × π/180.
    assert nearby[2][1] == pytest.approx(100.0756, abs=0.001)
    assert nearby[1][1] == pytest.approx(100.0756 - 50, abs=0.01)
    assert [o for o, _ in nearby_open(lat=lat, lon=lon, category_id=world.category.pk)] == [
        at_100,
        at_50,
    ]
    assert len(nearby_open(lat=lat, lon=lon, limit=1)) == 1


def test_it_measures_known_distances() -> None:
    # One degree of latitude on the mean sphere, and one of longitude at 60°.
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195.08, abs=0.01)
    assert haversine_m(60, 10, 60, 11) == pytest.approx(55_597.01, abs=0.01)
    assert haversine_m(23.1, 113.3, 23.1, 113.3) == 0


def test_it_finds_orders_across_the_antimeridian(world: Any, now: datetime) -> None:
    east = actions.submit(
        actor=world.users["erin"], lat=23.0, lon=179.9999, at=now, allow_outside=True
    )

    nearby = nearby_open(lat=23.0, lon=-179.9999)

    assert [order for order, _ in nearby] == [east]
    assert nearby[0][1] == pytest.approx(20.47, abs=0.01)


@pytest.mark.django_db
def test_it_runs_the_dedupe_benchmark_in_smoke_mode(capsys: Any) -> None:
    figures = run_benchmark(smoke=True)

    for key in ("merge_precision", "merge_recall", "flag_precision", "flag_recall"):
        assert 0 <= figures[key] <= 1, key
    assert figures["true_duplicates"] > 0
    # Most true duplicates reach the dispatcher, merged or suggested.
    assert figures["flag_recall"] > 0.5
    assert "merge or suggest" in capsys.readouterr().out


def test_sqlite_searches_candidates_by_position_without_statistics(world: Any, now: Any) -> None:
    """Without ANALYZE, SQLite would read every open order of the window by status and time
    (or of the category); the query keeps it on the (lat, lon) index."""
    from django.db import connection

    from yunbao.intake.dedupe import _box, _candidate_query

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's planner")
    lat, lon = world.point1()
    for category_id in (None, world.category.pk):
        sql, params = _candidate_query(
            _box(lat, lon, 150),
            since=now - timedelta(hours=72),
            until=now,
            category_id=category_id,
            exclude_id=1,
        )
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(step[-1]) for step in cursor.fetchall())
        index = next(i.name for i in WorkOrder._meta.indexes if i.fields == ["lat", "lon"])
        assert f"USING INDEX {index}" in plan, plan


def test_candidate_fields_are_listed_in_the_models_order() -> None:
    """`_as_order` hands the row to `Model.from_db`, which expects the model's field order."""
    order = [f.name for f in WorkOrder._meta.concrete_fields if f.name in CANDIDATE_FIELDS]
    assert tuple(order) == CANDIDATE_FIELDS


def test_a_hot_spot_compares_only_the_nearest_orders(world: Any, now: datetime) -> None:
    """Sixty open orders around one spot: only the nearest MAX_COMPARED are scored, so a
    flood of reports cannot make each new one slower and slower."""
    from yunbao.intake.dedupe import MAX_COMPARED

    lat, lon = world.point1()
    orders = [
        WorkOrder(
            number=f"H{i:03d}",
            status=Status.SUBMITTED,
            description="市场门口垃圾",
            # i metres north, roughly: the index is the distance rank.
            lat=lat + i * 0.000009,
            lon=lon,
            created_at=now - timedelta(hours=1),
        )
        for i in range(1, MAX_COMPARED + 11)
    ]
    WorkOrder.objects.bulk_create(orders)
    found = find_candidates(
        lat=lat, lon=lon, category_id=None, text="市场门口垃圾", at=now, limit=1000
    )
    assert len(found) == MAX_COMPARED
    assert max(c.distance_m for c in found) < min(
        haversine_m(lat, lon, o.lat, o.lon) for o in orders[MAX_COMPARED:]
    )
