"""The category classifier: a report's words → the category, with probabilities.

The model
---------
`build_pipeline` is a scikit-learn `Pipeline`: a `FeatureUnion` of two TF-IDF vectorisers —
jieba words (Chinese segmentation; English words come out whole) and character 1–3-grams
within words (which catch what segmentation misses: 井盖 inside 污水井盖丢了, typos, mixed
text) — feeding a multinomial `LogisticRegression`, whose probabilities are a softmax and
sum to 1. Text is NFKC-normalised (full-width letters and digits made plain), lower-cased,
and punctuation and emoji become spaces before either vectoriser sees it.

Logistic regression (lbfgs) rather than `SGDClassifier(loss="log_loss")`: on 80,000 generated
texts in 85 categories on two busy cores the regression fits in 15–20 s (`TOL`, one BLAS
thread; the whole pipeline with jieba about 35 s) to the same held-out macro-F1 (0.953) as SGD
in 18 s, but SGD had not converged after 30 epochs (a warning) and its one-vs-rest
probabilities are rescaled, not a softmax, which matters where a threshold on the probability
decides (automatic dispatch, `check_mismatch`). `bench/classifier.py` measures it.

The vocabularies are capped (`WORD_FEATURES`, `CHAR_FEATURES`, the most frequent terms win)
and the fitted coefficients are kept as float32: the stored model stays at a few tens of MB
even for 85 categories and a large vocabulary, and every web worker holds one.

One text at a time
------------------
The automatic decision classifies one report at a time, and scikit-learn's per-call
machinery (input validation, the feature union, sparse matrices) costs several times the
arithmetic for a single short text. `predict_one` therefore takes `_SingleText`: the fitted
vectorisers' own analysers, their vocabularies and idf weights, the coefficients read by
column, and the very operations scikit-learn performs, in the same float32 precision and
order, then scikit-learn's own softmax — so its probabilities are those of the batched
`predict` bit for bit (a test checks it on every category's texts). A pipeline of another
shape than `build_pipeline` makes (an old blob) simply goes through the pipeline.

Versions
--------
Trained models are stored as `ClassifierModel` rows (joblib in a binary field) with their
held-out metrics; exactly one is active (`save_model(..., activate=True)`, `activate`).
`active_classifier()` is what the rest of dispatch calls: each process keeps the active model
in memory and checks which one is active at most every `CHECK_SECONDS` (one indexed query),
so a switch made in one process reaches the others within seconds, and at once in the process
that made it. With no stored model it is the cold-start model built from the catalogue
(each category's names and keywords in a few synthetic sentences), built once per process
and again only when the catalogue's names or keywords change.

Retraining
----------
`retrain_and_maybe_promote` (the periodic task) trains on closed orders and corrections
(`yunbao.dispatch.training`) and promotes the new model only if its macro-F1 on held-out
orders beats the active model's on the same orders by more than
`settings.YUNBAO_CLASSIFIER_MIN_GAIN`. The held-out orders are chosen by a stable hash of
the order id, so they are the same orders in every run: a model trained by an earlier run
never saw them either, and the comparison is fair. (A model trained from a spreadsheet that
contains exports of the same orders would have seen them; the comparison then favours it.)

Blobs are unpickled: load only models this project stored in its own database.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import joblib
import numpy as np
import sklearn
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.extmath import softmax
from threadpoolctl import threadpool_limits

from yunbao.catalog.models import Category
from yunbao.dispatch.models import ClassifierModel
from yunbao.dispatch.training import LabelledTexts, training_data_from_orders

__all__ = [
    "CHECK_SECONDS",
    "MISMATCH_CONFIDENCE",
    "Classifier",
    "ClassifierUnavailable",
    "Mismatch",
    "Prediction",
    "Report",
    "RetrainResult",
    "TrainingError",
    "activate",
    "active_classifier",
    "build_cold_start",
    "build_pipeline",
    "check_mismatch",
    "clear_cache",
    "cold_start_classifier",
    "compare_and_maybe_promote",
    "evaluate",
    "invalidate_cache",
    "keyword_sentences",
    "load_version",
    "retrain_and_maybe_promote",
    "save_model",
    "score",
    "tokenize",
    "train",
    "train_and_score",
    "training_data_from_orders",
]

logger = logging.getLogger("yunbao.dispatch")

Progress = Callable[[str], None]

# Regularisation of the logistic regression (inverse strength). On the benchmark's generated
# set C = 3, 5 and 10 score the same (held-out macro-F1 0.952–0.953); with 5 the mean top
# probability (0.93) is closer to the accuracy (0.95) than with 3 (0.91). Generated text says
# little about calibration on real reports: `evaluate` on real data before trusting 0.9.
DEFAULT_C = 5.0
# The cold-start sentences are perfectly separable, so a large C would make one keyword
# near-certain evidence; a keyword is weak evidence, and the probability should say so.
COLD_START_C = 2.0
MAX_ITER = 1000
# lbfgs stops when the loss improves by less than this. scikit-learn's default (1e-4) takes
# three to four times the iterations for the same held-out macro-F1 (bench: 75 against 21
# iterations on 80,000 texts, macro-F1 0.953 both).
TOL = 1e-3
WORD_FEATURES = 30_000
CHAR_FEATURES = 60_000
# How often a process asks which model is active (seconds).
CHECK_SECONDS = 5.0
# From this probability in another category than the reporter's, a report is flagged.
MISMATCH_CONFIDENCE = 0.9
# Share of the data held out to score a new model. From orders the held-out fifth is the
# same orders every time (a stable hash), so it is never learnt from: the price of a fair
# comparison with the model trained by an earlier run.
HOLDOUT_SHARE = 0.2
TOP = 3
# Rows per `predict_proba` call: bounds the memory of a big batch.
BATCH = 5000
BLOB_FORMAT = 1


class TrainingError(ValueError):
    """The data cannot train or evaluate a model (too few samples or categories)."""


class ClassifierUnavailable(TrainingError):
    """No stored model is active and the catalogue cannot make a cold-start one."""


# --- Text → features -------------------------------------------------------------------------

_jieba_lock = threading.Lock()
_jieba: Any = None
_NOT_WORD = re.compile(r"[\W_]+")


def _segmenter() -> Any:
    """jieba, imported and its dictionary loaded once per process, without its chatter."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                # jieba's sources have invalid escape sequences (DeprecationWarning, a
                # SyntaxWarning on newer Pythons) and import pkg_resources: noise, not ours.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", SyntaxWarning)
                    import jieba
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def normalize(text: str) -> str:
    """Full-width forms made plain, lower case, punctuation and emoji as spaces."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def tokenize(text: str) -> list[str]:
    """jieba's words of a normalised text (English words come out whole)."""
    return [word for word in _segmenter().lcut(text) if not word.isspace()]


def build_pipeline(*, c: float = DEFAULT_C) -> Pipeline:
    """An unfitted pipeline: jieba words + character n-grams, TF-IDF, logistic regression."""
    words = TfidfVectorizer(
        preprocessor=normalize,
        tokenizer=tokenize,
        token_pattern=None,
        sublinear_tf=True,
        max_features=WORD_FEATURES,
        dtype=np.float32,
    )
    chars = TfidfVectorizer(
        preprocessor=normalize,
        analyzer="char_wb",
        ngram_range=(1, 3),
        sublinear_tf=True,
        max_features=CHAR_FEATURES,
        dtype=np.float32,
    )
    return Pipeline(
        [
            ("features", FeatureUnion([("words", words), ("chars", chars)])),
            ("model", LogisticRegression(C=c, max_iter=MAX_ITER, tol=TOL)),
        ]
    )


# --- The fitted classifier -------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """The most likely category, its probability, and the `top` few (code, probability)."""

    category_code: str
    probability: float
    top: list[tuple[str, float]]


class Classifier:
    """A fitted pipeline with its category codes; `version` is None until stored."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        version: int | None = None,
        source: str = "",
        converged: bool = True,
    ) -> None:
        self.pipeline = pipeline
        self.labels: list[str] = [str(label) for label in pipeline.classes_]
        self.version = version
        self.source = source
        self.converged = converged
        # None when the pipeline is not of the shape `build_pipeline` makes.
        self._single = _SingleText.of(pipeline)

    def __repr__(self) -> str:
        return f"<Classifier v{self.version} {self.source} {len(self.labels)} categories>"

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """An array (texts × `labels`) of probabilities; each row sums to 1."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        parts = [
            self.pipeline.predict_proba(list(texts[start : start + BATCH]))
            for start in range(0, len(texts), BATCH)
        ]
        return np.vstack(parts).astype(np.float64)

    def predict(self, texts: Sequence[str], *, top: int = TOP) -> list[Prediction]:
        """The prediction for each text, in one vectorised pass per `BATCH` texts."""
        return self._ranked(self.probabilities(texts), top)

    def _ranked(self, probabilities: np.ndarray, top: int) -> list[Prediction]:
        count = min(top, len(self.labels))
        # argsort of the negated row: highest first; ties keep the label order.
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :count]
        predictions = []
        for row, best in zip(probabilities, order, strict=True):
            ranked = [(self.labels[i], float(row[i])) for i in best]
            predictions.append(Prediction(ranked[0][0], ranked[0][1], ranked))
        return predictions

    def predict_one(self, text: str, *, top: int = TOP) -> Prediction:
        """The prediction for one text: what `predict([text])` says, without scikit-learn's
        per-call overhead (see "One text at a time")."""
        if self._single is None:
            return self.predict([text], top=top)[0]
        return self._ranked(self._single.probabilities(text), top)[0]

    def to_bytes(self) -> bytes:
        """The model as joblib bytes (zlib-compressed: vocabularies shrink several times)."""
        buffer = io.BytesIO()
        payload = {
            "format": BLOB_FORMAT,
            "pipeline": self.pipeline,
            "source": self.source,
            "converged": self.converged,
            "sklearn": sklearn.__version__,
        }
        joblib.dump(payload, buffer, compress=3)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, version: int | None = None) -> Classifier:
        _segmenter()  # the pipeline's tokenizer needs jieba; load it outside any request lock
        payload = joblib.load(io.BytesIO(bytes(data)))
        if not isinstance(payload, dict) or payload.get("format") != BLOB_FORMAT:
            raise ValueError("not a Yunbao classifier blob")
        return cls(
            payload["pipeline"],
            version=version,
            source=payload.get("source", ""),
            converged=payload.get("converged", True),
        )


class _SingleText:
    """`pipeline.predict_proba([text])` for one text, the same operations by hand.

    What scikit-learn does, step by step, and what this repeats in the same dtypes and order:
    each vectoriser's analyser makes the terms; the in-vocabulary ones are counted (float32)
    in column order; sublinear tf (ln + 1) and the idf weights; each vectoriser's row is
    L2-normalised (squares summed in double, entries divided in double and rounded to
    float32); the word columns come first, then the characters; the decision is the float32
    sum of value × coefficient column in that order (scipy's sparse × dense kernel) plus the
    intercept; then scikit-learn's softmax.
    """

    def __init__(
        self,
        parts: list[tuple[Callable[[str], list[str]], dict[str, int], np.ndarray]],
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        self.parts = parts
        self.coef = coef
        self.intercept = intercept
        self.dtype = np.result_type(np.float32, coef.dtype)

    @classmethod
    def of(cls, pipeline: Pipeline) -> _SingleText | None:
        """The fast path for a pipeline `build_pipeline` made, else None."""
        try:
            union, model = pipeline.named_steps["features"], pipeline.named_steps["model"]
        except (AttributeError, KeyError):
            return None
        if (
            not isinstance(union, FeatureUnion)
            or union.transformer_weights is not None
            or not isinstance(model, LogisticRegression)
            or len(model.classes_) <= 2  # binary: a sigmoid, not the softmax repeated here
            or getattr(model, "coef_", None) is None
            or model.coef_.ndim != 2
        ):
            return None
        parts = []
        for _name, vectoriser in union.transformer_list:
            if not (
                isinstance(vectoriser, TfidfVectorizer)
                and vectoriser.dtype == np.float32
                and vectoriser.input == "content"
                and not vectoriser.binary
                and vectoriser.use_idf
                and vectoriser.norm == "l2"
                and vectoriser.sublinear_tf
                and hasattr(vectoriser, "idf_")
            ):
                return None
            parts.append((vectoriser.build_analyzer(), vectoriser.vocabulary_, vectoriser.idf_))
        if sum(len(vocabulary) for _a, vocabulary, _i in parts) != model.coef_.shape[1]:
            return None
        return cls(parts, model.coef_, model.intercept_)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, float32 values) of the text's TF-IDF row, columns ascending."""
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        offset = 0
        for analyse, vocabulary, idf in self.parts:
            counts: dict[int, int] = {}
            for term in analyse(text):
                column = vocabulary.get(term)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if counts:
                index = np.fromiter(sorted(counts), dtype=np.intp, count=len(counts))
                data = np.array([counts[i] for i in index.tolist()], dtype=np.float32)
                np.log(data, out=data)
                data += np.float32(1.0)
                data *= idf[index]
                # Squares as float32, summed in double in column order, as scikit-learn's
                # `inplace_csr_row_normalize_l2`; then each entry / norm rounded to float32.
                total = 0.0
                for square in (data * data).tolist():
                    total += square
                if total != 0.0:
                    data = (data.astype(np.float64) / math.sqrt(total)).astype(np.float32)
                columns.append(index + offset)
                values.append(data)
            offset += len(vocabulary)
        if not columns:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32)
        return np.concatenate(columns), np.concatenate(values)

    def probabilities(self, text: str) -> np.ndarray:
        """A (1 × labels) float64 array: the text's probabilities, as `predict_proba`."""
        columns, values = self.features(text)
        if columns.size:
            # value × coefficient, each rounded to float32, accumulated left to right in
            # float32 (a cumulative sum is sequential; a dot product would not be).
            products = self.coef[:, columns] * values.astype(self.dtype)
            decision = np.cumsum(products, axis=1, dtype=self.dtype)[:, -1]
        else:
            decision = np.zeros(self.coef.shape[0], dtype=self.dtype)
        decision = decision + self.intercept
        probabilities: np.ndarray = softmax(decision.reshape(1, -1), copy=False)
        return probabilities.astype(np.float64)


def _shrink(pipeline: Pipeline) -> None:
    """Keep the coefficients as float32: half the memory and blob; probabilities agree to
    about 1e-6, since the features are float32 already."""
    model = pipeline.named_steps["model"]
    model.coef_ = model.coef_.astype(np.float32)
    model.intercept_ = model.intercept_.astype(np.float32)


def _require_categories(labels: Sequence[str]) -> None:
    if len(set(labels)) < 2:
        raise TrainingError(
            _("Training needs texts of at least two categories, not %(count)d.")
            % {"count": len(set(labels))}
        )


def train(
    texts: Sequence[str], labels: Sequence[str], *, source: str = "", c: float = DEFAULT_C
) -> Classifier:
    """Fit a new pipeline on the texts and their category codes."""
    if len(texts) != len(labels):
        raise TrainingError(f"{len(texts)} texts but {len(labels)} labels")
    _require_categories(labels)
    _segmenter()
    pipeline = build_pipeline(c=c)
    # lbfgs converges on TF-IDF in a few dozen to a few hundred iterations; should it stop at
    # MAX_ITER the model is still usable, so that is recorded and logged, not raised.
    # One BLAS thread: lbfgs's vector updates are too small to gain from more, and OpenBLAS's
    # spinning threads made the fit 1.5 (80,000 texts) to 3.5 (3,000) times slower on a busy
    # two-core machine.
    with (
        warnings.catch_warnings(record=True) as caught,
        threadpool_limits(limits=1, user_api="blas"),
    ):
        warnings.simplefilter("always", ConvergenceWarning)
        pipeline.fit(list(texts), list(labels))
    converged = True
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            converged = False
        else:  # not ours to swallow
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if not converged:
        logger.warning("classifier training stopped at %d iterations, not converged", MAX_ITER)
    _shrink(pipeline)
    return Classifier(pipeline, source=source, converged=converged)


# --- Scoring ---------------------------------------------------------------------------------


@dataclass
class Report:
    """How well a model predicts: overall, per category, and what it confuses.

    `per_class` is scikit-learn's `classification_report(output_dict=True)` (per code:
    precision, recall, f1-score, support; plus "macro avg" and "weighted avg"); `confusion`
    has a row per true and a column per predicted code, both in `labels` order.
    """

    samples: int
    labels: list[str]
    accuracy: float
    macro_f1: float
    per_class: dict[str, Any]
    confusion: list[list[int]]
    folds: int = 0  # 0: scored on a held-out set
    fold_macro_f1: list[float] = field(default_factory=list)
    # Categories left out of a cross-validation for having fewer samples than folds.
    dropped: dict[str, int] = field(default_factory=dict)

    def as_metrics(self) -> dict[str, Any]:
        """A JSON-able dict for `ClassifierModel.metrics`."""
        return {
            "samples": self.samples,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "folds": self.folds,
            "fold_macro_f1": [round(f, 4) for f in self.fold_macro_f1],
            "labels": self.labels,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "dropped": self.dropped,
        }


def _report(
    truth: Sequence[str], predicted: Sequence[str], *, scored_labels: list[str] | None = None
) -> Report:
    # Macro-F1 averages over the categories that occur in the truth: a category a model may
    # predict but the set never has would otherwise count as a zero and punish that model.
    scored = scored_labels or sorted(set(truth))
    labels = sorted(set(truth) | set(predicted))
    per_class = classification_report(
        truth, predicted, labels=scored, output_dict=True, zero_division=0
    )
    return Report(
        samples=len(truth),
        labels=labels,
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, labels=scored, average="macro", zero_division=0)),
        per_class=per_class,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
    )


def score(classifier: Classifier, texts: Sequence[str], labels: Sequence[str]) -> Report:
    """The classifier's report on a labelled held-out set."""
    if not texts:
        raise TrainingError(_("There is nothing to score the model on."))
    predicted = [p.category_code for p in classifier.predict(texts, top=1)]
    return _report(labels, predicted)


def evaluate(
    texts: Sequence[str],
    labels: Sequence[str],
    folds: int = 5,
    *,
    groups: Sequence[str] | None = None,
    progress: Progress | None = None,
    c: float = DEFAULT_C,
    seed: int = 0,
) -> Report:
    """Stratified k-fold cross-validation of a fresh pipeline on the labelled texts.

    Every text is predicted once, by the model trained on the other folds; accuracy,
    macro-F1, the per-class report and the confusion matrix are computed over all those
    predictions, and each fold's macro-F1 is kept to show the spread. With `groups` (the
    samples' keys: an order and its corrections) a group stays within one fold, so a
    repeated correction is never tested by a model that learnt it. A category found in
    fewer samples (groups) than folds cannot be in every fold: it is left out, and listed
    in `dropped` with its number of samples.
    """
    if folds < 2:
        raise TrainingError(_("Cross-validation needs at least 2 folds."))
    if len(texts) != len(labels) or (groups is not None and len(groups) != len(labels)):
        raise TrainingError(f"{len(texts)} texts but {len(labels)} labels")
    samples: dict[str, int] = {}
    members: dict[str, set[str]] = {}
    for i, label in enumerate(labels):
        samples[label] = samples.get(label, 0) + 1
        members.setdefault(label, set()).add(groups[i] if groups is not None else str(i))
    dropped = {label: samples[label] for label in sorted(members) if len(members[label]) < folds}
    keep = [i for i, label in enumerate(labels) if label not in dropped]
    x = np.array([texts[i] for i in keep], dtype=object)
    y = np.array([labels[i] for i in keep], dtype=object)
    if len(set(y.tolist())) < 2:
        raise TrainingError(
            _(
                "Too few samples: %(folds)d-fold cross-validation needs at least two "
                "categories with %(folds)d or more texts each."
            )
            % {"folds": folds}
        )
    splits: Any
    if groups is not None:
        kept_groups = [groups[i] for i in keep]
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        splits = splitter.split(x, y, kept_groups)
    else:
        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y)
    predicted = np.empty(len(y), dtype=object)
    fold_f1: list[float] = []
    for number, (train_at, test_at) in enumerate(splits, start=1):
        started = time.perf_counter()
        model = train(x[train_at].tolist(), y[train_at].tolist(), c=c)
        fold_predicted = [p.category_code for p in model.predict(x[test_at].tolist(), top=1)]
        predicted[test_at] = fold_predicted
        truth = y[test_at].tolist()
        fold_f1.append(
            float(
                f1_score(
                    truth,
                    fold_predicted,
                    labels=sorted(set(truth)),
                    average="macro",
                    zero_division=0,
                )
            )
        )
        if progress:
            progress(
                _("fold %(n)d/%(folds)d: macro-F1 %(f1).3f (%(seconds).1f s)")
                % {
                    "n": number,
                    "folds": folds,
                    "f1": fold_f1[-1],
                    "seconds": time.perf_counter() - started,
                }
            )
    report = _report(y.tolist(), predicted.tolist())
    report.folds = folds
    report.fold_macro_f1 = fold_f1
    report.dropped = dropped
    return report


def _stratified_holdout(labels: Sequence[str], share: float, seed: int) -> list[bool]:
    """Which samples to hold out: `share` of each category's (none of a category under 5)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    held = [False] * len(labels)
    for indices in by_label.values():
        take = int(len(indices) * share)
        for i in rng.permutation(indices)[:take]:
            held[int(i)] = True
    return held


def train_and_score(
    data: LabelledTexts,
    *,
    source: str,
    by_key: bool = False,
    share: float = HOLDOUT_SHARE,
    progress: Progress | None = None,
) -> tuple[Classifier, Report | None]:
    """Train with a held-out share for the metrics; returns the model and its report.

    `by_key` (orders): the held-out samples are chosen by `LabelledTexts.split_by_key` and
    the model is trained on the rest only, so that later retraining can compare it with a
    new model on orders neither saw. Otherwise (a file): a stratified random share is held
    out to score a first model, and the model kept is trained again on everything. With too
    few texts to hold any out (fewer than 5 per category), the model is trained on all of
    them and the report is None.
    """
    say = progress or (lambda line: None)
    _require_categories(data.labels)
    if by_key:
        training, held = data.split_by_key(share)
    else:
        mask = _stratified_holdout(data.labels, share, seed=0)
        training, held = LabelledTexts(), LabelledTexts()
        for text, label, is_held in zip(data.texts, data.labels, mask, strict=True):
            (held if is_held else training).add(text, label)
    if not held or len(training.counts()) < 2:
        say(
            _("too few texts to hold some out: training on all %(count)d, without a score …")
            % {"count": len(data)}
        )
        return train(data.texts, data.labels, source=source), None
    say(
        _("training on %(train)d texts in %(categories)d categories, %(held)d held out …")
        % {
            "train": len(training),
            "categories": len(training.counts()),
            "held": len(held),
        }
    )
    started = time.perf_counter()
    model = train(training.texts, training.labels, source=source)
    say(_("trained in %(seconds).1f s") % {"seconds": time.perf_counter() - started})
    report = score(model, held.texts, held.labels)
    say(
        _("held out: accuracy %(accuracy).3f, macro-F1 %(f1).3f")
        % {"accuracy": report.accuracy, "f1": report.macro_f1}
    )
    if not by_key:
        say(_("training again on all %(count)d texts …") % {"count": len(data)})
        started = time.perf_counter()
        model = train(data.texts, data.labels, source=source)
        say(_("trained in %(seconds).1f s") % {"seconds": time.perf_counter() - started})
    return model, report


# --- Cold start from the catalogue -----------------------------------------------------------

# Places and frames around each keyword: the same for every category, so the model learns
# that they say nothing about the category and weighs the keyword.
_COLD_PLACES = ["路边", "小区门口", "村口", "市场旁边"]
_COLD_ZH = ["{}", "{place}有{kw}", "发现{kw}，请处理", "{place}{kw}问题很严重"]
_COLD_EN = ["{}", "there is {kw} near the {place}", "{kw}, please fix it"]
_COLD_EN_PLACES = ["road", "market", "school"]


def keyword_sentences(category: Category) -> list[str]:
    """A few synthetic reports from a category's names and keywords (cold start)."""
    subjects = [category.name, category.name_en, *category.keyword_list]
    sentences: list[str] = []
    seen: set[str] = set()
    for n, subject in enumerate(s.strip() for s in subjects):
        if not subject or subject.casefold() in seen:
            continue
        seen.add(subject.casefold())
        english = subject.isascii()
        frames = _COLD_EN if english else _COLD_ZH
        places = _COLD_EN_PLACES if english else _COLD_PLACES
        for frame in frames:
            place = places[n % len(places)]
            sentences.append(frame.format(subject, kw=subject, place=place))
    return sentences


def _catalogue_digest() -> str:
    rows = Category.objects.filter(active=True).order_by("code")
    digest = hashlib.sha256()
    for row in rows.values_list("code", "name", "name_en", "keywords"):
        digest.update("\x1f".join(row).encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def cold_start_training_data() -> LabelledTexts:
    data = LabelledTexts()
    for category in Category.objects.filter(active=True).order_by("code"):
        for sentence in keyword_sentences(category):
            data.add(sentence, category.code, f"keywords:{category.code}")
    return data


def cold_start_classifier() -> Classifier:
    """The model built from the catalogue's keywords (cached per process and catalogue)."""
    return _cold_start(_catalogue_digest())


_cold_lock = threading.Lock()
_cold: tuple[str, Classifier] | None = None


def build_cold_start() -> tuple[Classifier, int]:
    """Train the cold-start model on the catalogue's sentences: (model, sentences)."""
    data = cold_start_training_data()
    if len(data.counts()) < 2:
        raise ClassifierUnavailable(
            _("No classifier is active and the catalogue has fewer than two categories.")
        )
    model = train(data.texts, data.labels, source=ClassifierModel.Source.KEYWORDS, c=COLD_START_C)
    return model, len(data)


def _cold_start(digest: str) -> Classifier:
    global _cold
    with _cold_lock:  # built once even when several threads ask at the same moment
        if _cold is not None and _cold[0] == digest:
            return _cold[1]
        started = time.perf_counter()
        model, sentences = build_cold_start()
        logger.info(
            "cold-start classifier: %d sentences, %d categories, %.1f s",
            sentences,
            len(model.labels),
            time.perf_counter() - started,
        )
        _cold = (digest, model)
        return model


# --- Stored versions -------------------------------------------------------------------------


def save_model(
    classifier: Classifier,
    *,
    source: str,
    samples: int,
    metrics: dict[str, Any],
    activate: bool = False,
    note: str = "",
) -> ClassifierModel:
    """Store the classifier as the next version; with `activate`, it replaces the active one."""
    blob = classifier.to_bytes()  # seconds for a large model: before the write transaction
    metrics = {**metrics, "sklearn": sklearn.__version__, "converged": classifier.converged}
    for attempt in range(3):
        try:
            with transaction.atomic():
                last = ClassifierModel.objects.aggregate(v=Max("version"))["v"] or 0
                if activate:
                    ClassifierModel.objects.filter(active=True).update(active=False)
                row = ClassifierModel.objects.create(
                    version=last + 1,
                    source=source,
                    samples=samples,
                    metrics=metrics,
                    blob=blob,
                    active=activate,
                    note=note[:200],
                )
            break
        except IntegrityError:
            # Another process stored or activated a version at the same moment.
            if attempt == 2:
                raise
    classifier.version = row.version
    invalidate_cache()
    return row


def activate(version: int) -> ClassifierModel:
    """Make this stored version the active one (and no other). `LookupError` if unknown."""
    with transaction.atomic():
        versions = ClassifierModel.objects.select_for_update().defer("blob")
        row = versions.filter(version=version).first()
        if row is None:
            raise LookupError(_("There is no classifier version %(v)d.") % {"v": version})
        ClassifierModel.objects.filter(active=True).exclude(pk=row.pk).update(active=False)
        if not row.active:
            row.active = True
            row.save(update_fields=["active"])
    invalidate_cache()
    return row


def load_version(row: ClassifierModel) -> Classifier:
    return Classifier.from_bytes(bytes(row.blob), version=row.version)


# The process's active classifier, the key it was loaded for, and when that was checked.
_lock = threading.Lock()
_loaded: tuple[tuple[Any, ...], Classifier] | None = None
_checked_at = 0.0
# Bumped by every invalidation, so a model loaded from data read before it is not kept.
_generation = 0


def invalidate_cache() -> None:
    """Ask the database which model is active on the next call (this process changed it)."""
    global _loaded, _generation
    with _lock:
        _loaded = None
        _generation += 1


def clear_cache() -> None:
    """Forget the active and the cold-start models (tests; after loading a catalogue)."""
    global _cold
    invalidate_cache()
    with _cold_lock:
        _cold = None


def _active_key() -> tuple[Any, ...]:
    row = (
        ClassifierModel.objects.filter(active=True)
        .values_list("pk", "version", "created_at")
        .first()
    )
    if row is not None:
        # created_at too: a row id can come back after a rollback (SQLite reuses rowids).
        return ("stored", *row)
    return ("keywords", _catalogue_digest())


def _load(key: tuple[Any, ...]) -> Classifier:
    if key[0] == "keywords":
        return _cold_start(key[1])
    row = ClassifierModel.objects.filter(pk=key[1]).first()
    if row is not None:
        try:
            return load_version(row)
        except Exception:
            # A blob this scikit-learn cannot read (upgraded?) must not stop intake: fall
            # back to the keywords, loudly.
            logger.exception("cannot load classifier v%s; using the catalogue keywords", key[2])
    return _cold_start(_catalogue_digest())


def active_classifier() -> Classifier:
    """The active stored model, else the catalogue's cold-start model (cached per process)."""
    global _loaded, _checked_at
    now = time.monotonic()
    loaded = _loaded
    if loaded is not None and now - _checked_at < CHECK_SECONDS:
        return loaded[1]
    with _lock:
        generation = _generation
    key = _active_key()
    if loaded is None or loaded[0] != key:
        loaded = (key, _load(key))
    with _lock:
        if generation == _generation:
            _loaded, _checked_at = loaded, now
    return loaded[1]


# --- Retraining ------------------------------------------------------------------------------


class RetrainResult(NamedTuple):
    model: ClassifierModel | None  # the stored new version (None: nothing could be trained)
    promoted: bool
    reason: str


def compare_and_maybe_promote(
    new: Classifier,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    source: str,
    samples: int,
    min_gain: float | None = None,
    note: str = "",
) -> RetrainResult:
    """Score the new and the active model on the same held-out texts; store the new one,
    active only if its macro-F1 is higher than the active one's by more than `min_gain`."""
    gain = settings.YUNBAO_CLASSIFIER_MIN_GAIN if min_gain is None else min_gain
    current_row = ClassifierModel.objects.filter(active=True).first()
    current = load_version(current_row) if current_row is not None else cold_start_classifier()
    new_report = score(new, texts, labels)
    old_report = score(current, texts, labels)
    promoted = new_report.macro_f1 > old_report.macro_f1 + gain
    current_name = (
        _("version %(v)d") % {"v": current_row.version}
        if current_row is not None
        else _("the catalogue keywords")
    )
    metrics = new_report.as_metrics() | {
        "compared_with": {
            "version": current_row.version if current_row is not None else None,
            "accuracy": round(old_report.accuracy, 4),
            "macro_f1": round(old_report.macro_f1, 4),
        },
        "min_gain": gain,
    }
    row = save_model(
        new, source=source, samples=samples, metrics=metrics, activate=promoted, note=note
    )
    values = {
        "new": row.version,
        "new_f1": new_report.macro_f1,
        "old": current_name,
        "old_f1": old_report.macro_f1,
        "gain": gain,
        "held": len(texts),
    }
    if promoted:
        reason = (
            _(
                "Version %(new)d is active: held-out macro-F1 %(new_f1).3f against "
                "%(old_f1).3f for %(old)s on the same %(held)d texts (minimum gain %(gain)g)."
            )
            % values
        )
    else:
        reason = (
            _(
                "Version %(new)d is stored but not active: held-out macro-F1 %(new_f1).3f "
                "against %(old_f1).3f for %(old)s on the same %(held)d texts does not beat it "
                "by more than %(gain)g."
            )
            % values
        )
    logger.info("classifier retrained: %s", reason)
    return RetrainResult(row, promoted, reason)


def retrain_and_maybe_promote(
    *, min_gain: float | None = None, progress: Progress | None = None
) -> RetrainResult:
    """Train on closed orders and corrections; promote only if better on held-out orders.

    The periodic task calls this. The new version is always stored with its metrics (and
    what it was compared with); it is active only when promoted.
    """
    say = progress or (lambda line: None)
    data = training_data_from_orders()
    training, held = data.split_by_key(HOLDOUT_SHARE)
    say(
        _("%(count)d samples from orders and corrections: %(train)d to train, %(held)d held out")
        % {"count": len(data), "train": len(training), "held": len(held)}
    )
    if len(training.counts()) < 2 or not held:
        reason = _(
            "Not retrained: %(count)d samples in %(categories)d categories are too few "
            "(at least two categories to train on and some orders to hold out)."
        ) % {"count": len(data), "categories": len(data.counts())}
        logger.info("classifier not retrained: %s", reason)
        return RetrainResult(None, False, reason)
    started = time.perf_counter()
    new = train(training.texts, training.labels, source=ClassifierModel.Source.ORDERS)
    say(_("trained in %(seconds).1f s") % {"seconds": time.perf_counter() - started})
    return compare_and_maybe_promote(
        new,
        held.texts,
        held.labels,
        source=ClassifierModel.Source.ORDERS,
        samples=len(training),
        min_gain=min_gain,
        note=_("retrained"),
    )


# --- The reporter's choice -------------------------------------------------------------------


class Mismatch(NamedTuple):
    flag: bool
    predicted_code: str
    probability: float


def check_mismatch(chosen_code: str, text: str) -> Mismatch:
    """Does the text very probably (≥ `MISMATCH_CONFIDENCE`) belong to another category
    than the one the reporter chose? The reporter's choice stands either way; a flag only
    asks the dispatcher to look."""
    if not text.strip():
        return Mismatch(False, chosen_code, 0.0)
    prediction = active_classifier().predict_one(text, top=1)
    flag = prediction.category_code != chosen_code and prediction.probability >= MISMATCH_CONFIDENCE
    return Mismatch(flag, prediction.category_code, prediction.probability)


def warm_up() -> None:
    """Load jieba's dictionary now (≈1 s): web and task workers call this at start-up."""
    _segmenter()
