"""The category classifier: training and prediction, scoring, stored versions and the
per-process cache, the cold start from the catalogue, retraining, corrections, mismatches."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from typing import Any

import joblib
import numpy as np
import pytest
from django.utils import translation

from yunbao.catalog.models import Category, Kind
from yunbao.dispatch import classifier
from yunbao.dispatch.classifier import Classifier, TrainingError
from yunbao.dispatch.models import ClassifierModel, Correction
from yunbao.dispatch.training import LabelledTexts, training_data_from_orders
from yunbao.testing import World, stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder

# Four categories of the shipped catalogue, each with its own words in Chinese and English.
WORDS: dict[str, tuple[list[str], list[str]]] = {
    "E0102": (["垃圾", "垃圾袋", "乱扔垃圾", "生活垃圾"], ["garbage", "rubbish", "litter"]),
    "C0118": (["路灯不亮", "路灯坏了", "灯不亮", "路灯闪"], ["street lamp", "street light"]),
    "E0505": (["乱停车", "违停", "汽车停在人行道", "车子乱停"], ["parked car", "illegal parking"]),
    "E0201": (["小广告", "牛皮癣", "乱贴广告", "办证广告"], ["leaflets", "small ads"]),
}
PLACES = ["小区门口", "菜市场旁边", "学校对面", "3号楼下", "公交站", "村口"]
ZH = ["{place}{word}", "{place}有{word}，请处理", "发现{word}好几天了", "{word}，{place}，很严重"]
EN = ["{word} near the {place}", "there is {word} at the gate", "{word} again, please fix"]
EN_PLACES = ["market", "school", "bus stop"]


def labelled(per_category: int, seed: int = 1) -> tuple[list[str], list[str]]:
    """Bilingual reports of the four categories, `per_category` each, shuffled."""
    rng = random.Random(seed)
    pairs = []
    for code, (chinese, english) in WORDS.items():
        for n in range(per_category):
            if n % 4 == 3:
                text = rng.choice(EN).format(word=rng.choice(english), place=rng.choice(EN_PLACES))
            else:
                text = rng.choice(ZH).format(word=rng.choice(chinese), place=rng.choice(PLACES))
            pairs.append((text, code))
    rng.shuffle(pairs)
    return [t for t, _ in pairs], [c for _, c in pairs]


def shuffled(labels: list[str], seed: int = 3) -> list[str]:
    """The same labels, each moved to another text: a model learns nothing true from them."""
    rng = random.Random(seed)
    codes = sorted(set(labels))
    return [rng.choice([c for c in codes if c != label]) for label in labels]


@pytest.fixture(autouse=True)
def _fresh_active_model() -> Iterator[None]:
    # Each test stores its own versions; the cold-start model is keyed by the catalogue's
    # contents and may be kept (building it takes seconds).
    classifier.invalidate_cache()
    yield
    classifier.invalidate_cache()


@pytest.fixture
def english() -> Iterator[None]:
    """The classifier's messages are translated; these tests read the English source."""
    with translation.override("en"):
        yield


@pytest.fixture(scope="module")
def model() -> Classifier:
    texts, labels = labelled(40)
    return classifier.train(texts, labels)


# --- Training and prediction -----------------------------------------------------------------


def test_it_learns_bilingual_categories_and_predicts_unseen_texts(model: Classifier) -> None:
    texts, labels = labelled(15, seed=99)

    predicted = [p.category_code for p in model.predict(texts)]

    right = sum(p == label for p, label in zip(predicted, labels, strict=True))
    assert right / len(labels) >= 0.95
    assert model.predict_one("晚上路灯坏了，很黑").category_code == "C0118"
    assert model.predict_one("Someone left garbage by the road").category_code == "E0102"
    assert model.predict_one("墙上贴满了小广告").category_code == "E0201"
    assert sorted(model.labels) == sorted(WORDS)


def test_its_probabilities_sum_to_one_and_rank_the_top_three(model: Classifier) -> None:
    texts = ["路灯不亮", "illegal parking at the gate", "", "完全无关的一句话"]

    matrix = model.probabilities(texts)
    predictions = model.predict(texts)

    assert matrix.shape == (4, 4)
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
    for row, prediction in zip(matrix, predictions, strict=True):
        assert len(prediction.top) == 3
        assert prediction.top[0] == (prediction.category_code, prediction.probability)
        assert [p for _, p in prediction.top] == sorted(
            (p for _, p in prediction.top), reverse=True
        )
        assert prediction.probability == pytest.approx(row.max(), abs=1e-6)
    assert model.predict([]) == []


ODD_TEXTS = ["", "   ", "!!!", "🚧🚧", "ＡＢ１ 井盖 broken light", "完全无关的一句话", "x" * 500]


def assert_single_text_path_agrees(model: Classifier, texts: list[str]) -> None:
    """`predict_one`'s own path gives the batched `predict`'s probabilities, bit for bit."""
    assert model._single is not None
    batched = model.probabilities(texts)
    for text, row in zip(texts, batched, strict=True):
        single = model._single.probabilities(text)
        assert single.shape == (1, len(model.labels))
        assert np.array_equal(single[0], row), text
        assert model.predict_one(text) == model.predict([text])[0]


def test_one_text_is_classified_as_in_a_batch(model: Classifier) -> None:
    texts, _labels = labelled(15, seed=7)
    assert_single_text_path_agrees(model, texts + ODD_TEXTS)
    # And after the round trip through a stored blob.
    again = Classifier.from_bytes(model.to_bytes())
    assert_single_text_path_agrees(again, texts[:10] + ODD_TEXTS)


@pytest.mark.django_db
def test_the_cold_start_model_classifies_one_text_as_in_a_batch() -> None:
    active = classifier.active_classifier()
    texts = [
        sentence
        for category in Category.objects.filter(active=True).order_by("code")
        for sentence in classifier.keyword_sentences(category)[:6]
    ]
    assert_single_text_path_agrees(active, texts + ODD_TEXTS)


def test_a_pipeline_of_another_shape_is_asked_itself(model: Classifier) -> None:
    """Two categories (a sigmoid, not a softmax): no single-text path, same answers."""
    texts, labels = labelled(20)
    pairs = [(t, c) for t, c in zip(texts, labels, strict=True) if c in ("E0102", "C0118")]
    binary = classifier.train([t for t, _ in pairs], [c for _, c in pairs])
    assert binary._single is None
    assert binary.predict_one("路灯不亮") == binary.predict(["路灯不亮"])[0]
    assert binary.predict_one("路灯不亮").category_code == "C0118"


def test_it_round_trips_through_bytes(model: Classifier) -> None:
    texts = ["路灯闪个不停", "乱贴广告", "rubbish everywhere"]

    blob = model.to_bytes()
    again = Classifier.from_bytes(blob, version=7)

    assert again.labels == model.labels
    assert again.version == 7
    assert np.allclose(again.probabilities(texts), model.probabilities(texts))
    other = io.BytesIO()
    joblib.dump({"format": 99}, other)
    with pytest.raises(ValueError, match="not a Yunbao classifier"):
        Classifier.from_bytes(other.getvalue())


def test_it_needs_two_categories_to_train(english: None) -> None:
    with pytest.raises(TrainingError, match="two categories"):
        classifier.train(["路灯不亮", "路灯坏了"], ["C0118", "C0118"])


def test_it_records_a_model_that_did_not_converge_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(classifier, "MAX_ITER", 1)
    texts, labels = labelled(10)

    model = classifier.train(texts, labels)

    assert model.converged is False
    assert len(model.predict(texts)) == len(texts)


# --- Scoring ---------------------------------------------------------------------------------


def test_it_cross_validates_with_a_report_per_category_and_a_confusion_matrix() -> None:
    texts, labels = labelled(20)
    lines: list[str] = []

    report = classifier.evaluate(texts, labels, folds=5, progress=lines.append)

    assert report.samples == 80
    assert report.folds == 5
    assert len(report.fold_macro_f1) == 5
    assert len(lines) == 5
    assert 0.9 <= report.macro_f1 <= 1
    assert 0.9 <= report.accuracy <= 1
    assert report.labels == sorted(WORDS)
    for code in WORDS:
        assert report.per_class[code]["support"] == 20
        assert 0 <= report.per_class[code]["f1-score"] <= 1
    assert len(report.confusion) == 4
    assert sum(map(sum, report.confusion)) == 80
    assert report.dropped == {}
    metrics = report.as_metrics()
    assert metrics["macro_f1"] == round(report.macro_f1, 4)


def test_it_leaves_out_a_category_with_fewer_texts_than_folds() -> None:
    texts, labels = labelled(10)
    texts += ["树倒了", "大树倒在路上", "树枝断了"]
    labels += ["E0604"] * 3

    report = classifier.evaluate(texts, labels, folds=5)

    assert report.dropped == {"E0604": 3}
    assert "E0604" not in report.labels
    assert report.samples == 40


def test_it_keeps_an_order_and_its_corrections_in_one_fold() -> None:
    texts, labels = labelled(10)
    # Every text twice, as an order and its repeated correction: grouped, a copy is never
    # in the fold that tests the other, so the score is not that of memorising.
    groups = [f"order:{i}" for i in range(len(texts))] * 2

    report = classifier.evaluate(texts * 2, labels * 2, folds=4, groups=groups)

    assert report.samples == 80
    assert report.dropped == {}


def test_it_refuses_to_cross_validate_what_cannot_be(english: None) -> None:
    with pytest.raises(TrainingError, match="at least 2 folds"):
        classifier.evaluate(["a", "b"], ["E0102", "C0118"], folds=1)
    with pytest.raises(TrainingError, match="Too few samples"):
        classifier.evaluate(["a", "b", "c"], ["E0102", "C0118", "C0118"], folds=3)


def test_a_held_out_score_averages_over_the_categories_that_occur(model: Classifier) -> None:
    # Only two of the model's four categories occur: the others do not count as zeros.
    report = classifier.score(
        model,
        ["路灯坏了", "路灯不亮", "垃圾袋堆在门口"],
        [
            "C0118",
            "C0118",
            "E0102",
        ],
    )

    assert report.macro_f1 == 1.0
    assert report.accuracy == 1.0
    assert set(report.per_class) >= {"C0118", "E0102"}
    assert "E0505" not in report.per_class


def test_the_stable_split_puts_a_key_on_the_same_side_every_time() -> None:
    data = LabelledTexts()
    for i in range(2000):
        data.add(f"text {i}", "E0102", f"order:{i // 2}")  # two samples per order

    training, held = data.split_by_key(0.2)
    _, again_held = data.split_by_key(0.2)

    assert held.keys == again_held.keys
    assert not set(held.keys) & set(training.keys)
    assert 0.15 < len(held) / len(data) < 0.25


# --- Stored versions and the per-process cache ------------------------------------------------


@pytest.mark.django_db
def test_it_stores_versions_activates_one_and_switches_back(
    model: Classifier, english: None
) -> None:
    first = classifier.save_model(
        model, source="file", samples=160, metrics={"macro_f1": 0.9}, activate=True
    )
    second = classifier.save_model(
        model, source="orders", samples=170, metrics={"macro_f1": 0.95}, activate=True
    )
    third = classifier.save_model(model, source="orders", samples=180, metrics={})

    assert (first.version, second.version, third.version) == (1, 2, 3)
    assert list(ClassifierModel.objects.filter(active=True)) == [second]
    assert classifier.active_classifier().version == 2

    classifier.activate(1)

    assert list(ClassifierModel.objects.filter(active=True).values_list("version", flat=True)) == [
        1
    ]
    assert classifier.active_classifier().version == 1
    stored = ClassifierModel.objects.get(version=2)
    assert stored.metrics["macro_f1"] == 0.95
    assert stored.metrics["converged"] is True
    assert stored.samples == 170
    with pytest.raises(LookupError, match="no classifier version 9"):
        classifier.activate(9)


@pytest.mark.django_db
def test_the_cache_notices_a_switch_made_by_another_process(
    model: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    classifier.save_model(model, source="file", samples=1, metrics={}, activate=True)
    classifier.save_model(model, source="file", samples=1, metrics={})
    assert classifier.active_classifier().version == 1

    # Another process switches: this one's cache is not told.
    ClassifierModel.objects.filter(version=1).update(active=False)
    ClassifierModel.objects.filter(version=2).update(active=True)
    monkeypatch.setattr(classifier, "CHECK_SECONDS", 3600.0)
    assert classifier.active_classifier().version == 1  # not asked again yet

    monkeypatch.setattr(classifier, "CHECK_SECONDS", 0.0)
    assert classifier.active_classifier().version == 2

    ClassifierModel.objects.update(active=False)
    assert classifier.active_classifier().version is None  # back to the keywords


@pytest.mark.django_db
def test_the_cold_start_model_knows_the_catalogue_keywords() -> None:
    active = classifier.active_classifier()

    assert active.version is None
    assert active.source == ClassifierModel.Source.KEYWORDS
    assert set(active.labels) == set(
        Category.objects.filter(active=True).values_list("code", flat=True)
    )
    for text, code in [
        ("晚上路灯不亮了", "C0118"),
        ("墙上很多小广告", "E0201"),
        ("共享单车乱停在路中间", "E0506"),
        ("there is a shack on the corner", "E0101"),
        ("消防栓漏水", "C0113"),
    ]:
        top = [c for c, _ in active.predict_one(text).top]
        assert code in top, (text, top)


@pytest.mark.django_db
def test_the_cold_start_model_follows_a_catalogue_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(classifier, "CHECK_SECONDS", 0.0)
    assert "E0698" not in classifier.active_classifier().labels
    Category.objects.create(
        code="E0698",
        kind=Kind.EVENT,
        major_code="06",
        major_name="扩展事件",
        minor_code="98",
        name="无人机扰民",
        name_en="Drone nuisance",
        keywords="无人机\n航拍飞机\ndrone",
    )

    active = classifier.active_classifier()

    assert "E0698" in active.labels
    assert active.predict_one("小区上空有无人机一直在飞").category_code == "E0698"


# --- Training data from orders and corrections ------------------------------------------------


def close(world: World, order: WorkOrder) -> WorkOrder:
    """Take an order through its whole life to closed."""
    bob = world.users["bob"]
    actions.accept(order, actor=world.users["alice"])
    actions.dispatch(order, actor=world.users["alice"], unit=world.unit1, worker=bob)
    actions.start(order, actor=bob)
    actions.finish(order, actor=bob, note="done", photos=[stored_photo()])
    actions.verify(order, actor=world.users["carol"])
    return order


def report(world: World, text: str, code: str, *, closed: bool = True) -> WorkOrder:
    lat, lon = world.point1()
    order = actions.submit(
        actor=world.users["erin"],
        lat=lat,
        lon=lon,
        category=Category.objects.get(code=code),
        description=text,
    )
    return close(world, order) if closed else order


@pytest.mark.django_db
def test_closed_orders_and_corrections_become_training_data(world: World) -> None:
    lamp = report(world, "路灯不亮", "E0102")  # filed under the wrong category
    garbage = report(world, "门口一堆垃圾", "E0102")
    open_one = report(world, "小广告贴满墙", "E0201", closed=False)
    report(world, "", "E0102")  # no text: nothing to learn
    report(world, "   ", "E0102")
    Correction.objects.create(
        order=lamp,
        text="路灯不亮",
        predicted=Category.objects.get(code="E0102"),
        corrected=Category.objects.get(code="E0505"),
    )
    Correction.objects.create(  # the later correction wins
        order=lamp, text="路灯不亮", corrected=Category.objects.get(code="C0118")
    )
    Correction.objects.create(
        order=open_one, text="小广告贴满墙", corrected=Category.objects.get(code="E0201")
    )

    data = training_data_from_orders()

    samples = list(zip(data.texts, data.labels, data.keys, strict=True))
    lamp_key, garbage_key = f"order:{lamp.pk}", f"order:{garbage.pk}"
    assert samples.count(("路灯不亮", "C0118", lamp_key)) == 1 + 3  # the order, then weighted
    assert samples.count(("路灯不亮", "E0505", lamp_key)) == 3  # the earlier correction
    assert ("路灯不亮", "E0102", lamp_key) not in samples
    assert samples.count(("门口一堆垃圾", "E0102", garbage_key)) == 1
    # An open order is no example yet; a dispatcher's correction of it is.
    assert samples.count(("小广告贴满墙", "E0201", f"order:{open_one.pk}")) == 3
    assert len(samples) == 4 + 3 + 1 + 3


@pytest.mark.django_db
def test_a_retired_category_is_not_learnt(world: World) -> None:
    order = report(world, "门口一堆垃圾", "E0102")
    Category.objects.filter(code="E0102").update(active=False)

    assert len(training_data_from_orders()) == 0
    Correction.objects.create(
        order=order, text="门口一堆垃圾", corrected=Category.objects.get(code="E0103")
    )
    assert training_data_from_orders().labels == ["E0103"] * 4


# --- Retraining and promotion ----------------------------------------------------------------


@pytest.mark.django_db
def test_it_does_not_promote_a_model_that_scores_worse_on_held_out_texts(english: None) -> None:
    texts, labels = labelled(40)
    held_texts, held_labels = labelled(10, seed=42)
    good = classifier.train(texts, labels)
    classifier.save_model(good, source="file", samples=160, metrics={}, activate=True)
    worse = classifier.train(texts, shuffled(labels))

    result = classifier.compare_and_maybe_promote(
        worse, held_texts, held_labels, source="orders", samples=160, min_gain=0.0
    )

    assert result.promoted is False
    assert result.model is not None
    assert result.model.version == 2
    assert result.model.active is False
    assert classifier.active_classifier().version == 1
    compared = result.model.metrics["compared_with"]
    assert compared["version"] == 1
    assert compared["macro_f1"] > result.model.metrics["macro_f1"]
    assert "not active" in result.reason


@pytest.mark.django_db
def test_it_promotes_a_model_that_scores_better_on_held_out_texts(english: None) -> None:
    texts, labels = labelled(40)
    held_texts, held_labels = labelled(10, seed=42)
    poor = classifier.train(texts, shuffled(labels))
    classifier.save_model(poor, source="file", samples=160, metrics={}, activate=True)
    better = classifier.train(texts, labels)

    result = classifier.compare_and_maybe_promote(
        better, held_texts, held_labels, source="orders", samples=160, min_gain=0.0
    )

    assert result.promoted is True
    assert result.model is not None
    assert result.model.active is True
    assert classifier.active_classifier().version == 2
    assert result.model.metrics["macro_f1"] > result.model.metrics["compared_with"]["macro_f1"]
    assert "Version 2 is active" in result.reason


@pytest.mark.django_db
def test_a_gain_below_the_minimum_is_not_enough(settings: Any) -> None:
    settings.YUNBAO_CLASSIFIER_MIN_GAIN = 1.0  # nothing can beat a model by more than 1
    texts, labels = labelled(40)
    held_texts, held_labels = labelled(10, seed=42)
    classifier.save_model(
        classifier.train(texts, shuffled(labels)),
        source="file",
        samples=160,
        metrics={},
        activate=True,
    )

    result = classifier.compare_and_maybe_promote(
        classifier.train(texts, labels), held_texts, held_labels, source="orders", samples=160
    )

    assert result.promoted is False
    assert result.model is not None
    assert result.model.metrics["min_gain"] == 1.0


@pytest.mark.django_db
def test_it_retrains_on_closed_orders_and_replaces_the_keywords(
    world: World, english: None
) -> None:
    texts, labels = labelled(60)
    for text, code in zip(texts, labels, strict=True):
        report(world, text, code)
    lines: list[str] = []

    result = classifier.retrain_and_maybe_promote(min_gain=0.0, progress=lines.append)

    assert result.promoted is True, result.reason
    assert result.model is not None
    row = result.model
    assert row.source == ClassifierModel.Source.ORDERS
    assert row.active is True
    assert row.metrics["compared_with"]["version"] is None  # the catalogue keywords
    assert 0 < row.metrics["samples"] < 240  # the held-out orders
    assert row.samples + row.metrics["samples"] == 240
    assert classifier.active_classifier().version == row.version
    assert "held out" in lines[0]

    # Run again on the same orders: the same held-out orders, a model no better.
    again = classifier.retrain_and_maybe_promote(min_gain=0.01)

    assert again.promoted is False
    assert again.model is not None
    assert again.model.metrics["compared_with"]["version"] == row.version
    assert classifier.active_classifier().version == row.version


@pytest.mark.django_db
def test_it_does_not_retrain_without_enough_orders(english: None) -> None:
    result = classifier.retrain_and_maybe_promote()

    assert result.model is None
    assert result.promoted is False
    assert "Not retrained" in result.reason
    assert not ClassifierModel.objects.exists()


# --- The reporter's choice -------------------------------------------------------------------


@pytest.mark.django_db
def test_it_flags_a_category_the_text_clearly_contradicts() -> None:
    texts, labels = labelled(100)
    classifier.save_model(
        classifier.train(texts, labels), source="file", samples=400, metrics={}, activate=True
    )

    flagged = classifier.check_mismatch("E0102", "路灯坏了，晚上路灯不亮")
    agreed = classifier.check_mismatch("C0118", "路灯坏了，晚上路灯不亮")
    unsure = classifier.check_mismatch("E0102", "这里有点问题")
    empty = classifier.check_mismatch("E0102", "  ")

    assert flagged.flag is True
    assert flagged.predicted_code == "C0118"
    assert flagged.probability >= classifier.MISMATCH_CONFIDENCE
    assert agreed.flag is False
    assert agreed.predicted_code == "C0118"
    assert unsure.flag is False
    assert unsure.probability < classifier.MISMATCH_CONFIDENCE
    assert empty == (False, "E0102", 0.0)
