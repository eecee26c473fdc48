"""The nightly retraining task is idempotent: a second delivery on unchanged data neither
stores another version nor changes the active one; new data is trained on again."""

from __future__ import annotations

import pytest

from yunbao.dispatch import classifier
from yunbao.dispatch.models import ClassifierModel
from yunbao.dispatch.tasks import retrain_task
from yunbao.dispatch.tests.test_classifier import labelled, report
from yunbao.testing import World


@pytest.mark.django_db
def test_retraining_twice_is_harmless_and_new_data_retrains(world: World) -> None:
    texts, labels = labelled(12)
    for text, code in zip(texts, labels, strict=True):
        report(world, text, code)

    first = retrain_task.call()

    assert first in {"promoted", "stored"}
    model = ClassifierModel.objects.get()
    assert model.source == ClassifierModel.Source.ORDERS
    assert model.metrics["training_digest"]
    active_before = classifier.active_classifier().version

    # At-least-once delivery: the same night's task again.
    assert retrain_task.call() == "unchanged"
    assert ClassifierModel.objects.count() == 1
    assert classifier.active_classifier().version == active_before

    # A newly closed order is new training data: the next night trains again.
    report(world, "路边有垃圾堆了好几天", labels[0])
    assert retrain_task.call() in {"promoted", "stored"}
    assert ClassifierModel.objects.count() == 2


@pytest.mark.django_db
def test_without_enough_orders_nothing_is_stored() -> None:
    assert retrain_task.call() == "not retrained"
    assert not ClassifierModel.objects.exists()
