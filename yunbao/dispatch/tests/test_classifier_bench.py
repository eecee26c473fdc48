"""A small run of the classifier benchmark: it runs end to end and its figures make sense
(no timing asserted)."""

from __future__ import annotations

import pytest

from bench.classifier import catalogue_sources, generate, run


@pytest.mark.django_db
def test_it_runs_the_classifier_benchmark_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    figures = run(smoke=True)

    for key in ("train_seconds", "batched_per_s", "single_per_s", "model_mb"):
        assert figures[key] > 0, key
    for key in ("heldout_macro_f1", "heldout_accuracy", "cv_macro_f1"):
        assert 0 <= figures[key] <= 1, key
    # 85 categories from 2,400 generated texts: far better than chance (about 0.012).
    assert figures["heldout_macro_f1"] > 0.5
    assert "predictions:" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_generator_writes_each_category_in_its_own_words() -> None:
    sources = {s.code: s for s in catalogue_sources()}
    texts, labels = generate(list(sources.values()), 500, seed=1)

    assert len(texts) == len(labels) == 500
    assert len(set(texts)) > 450
    said = 0
    for text, code in zip(texts, labels, strict=True):
        words = [*sources[code].chinese, *sources[code].english]
        said += any(word.lower() in text.lower() for word in words)
    # A tenth of the texts carry a typo, which may break the very word.
    assert said / len(texts) > 0.9
