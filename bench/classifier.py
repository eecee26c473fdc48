"""Benchmark: the category classifier's training time, prediction speed and macro-F1.

Generates `TEXTS` labelled reports from the shipped catalogue (every category's keywords and
names in varied Chinese phrasing, with places, times, modifiers, requests, typos and noise,
a share in English or mixed), then measures:

- training time on 80 % of them and macro-F1 / accuracy on the held-out 20 %;
- predictions per second, batched (`Classifier.predict`) and one at a time (`predict_one`);
- 5-fold cross-validated macro-F1 (`evaluate`) on a 20,000-text sample of the set;
- the same 5-fold evaluation on the demo district's closed orders (`yunbao.web.demo.load`),
  whose descriptions are built from each category's keywords (`demo.describe`).

Categories share words (ten kinds of manhole cover all say 井盖), so the generated set is not
perfectly separable; its figures measure speed and sanity, not accuracy on real reports.

    .venv/bin/python -m bench.classifier            # throwaway SQLite database under var/
    .venv/bin/python -m bench.classifier --smoke    # small set, no demo district

`run()` measures in whatever database Django is configured with (a test calls it with
`smoke=True` inside its test database).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.common import throwaway_database

FULL = {"texts": 100_000, "cv_texts": 20_000, "single": 2_000, "demo_orders": 1_500}
SMOKE = {"texts": 3_000, "cv_texts": 1_500, "single": 100, "demo_orders": 0}


@dataclass(frozen=True)
class Source:
    """What the generator knows of one category."""

    code: str
    name: str
    name_en: str
    keywords: list[str]

    @property
    def chinese(self) -> list[str]:
        return [self.name, *(k for k in self.keywords if not k.isascii())]

    @property
    def english(self) -> list[str]:
        words = [k for k in self.keywords if k.isascii()]
        return [self.name_en.lower(), *words] if self.name_en else words


PLACES = [
    "唐阁村",
    "三元里大道",
    "白云湖街",
    "江高镇南岗村",
    "夏茅村牌坊",
    "石马村市场",
    "机场路",
    "松柏社区",
    "瑶台社区",
    "大朗村",
    "江村",
    "泉溪村",
    "地铁站B出口",
    "公交站旁边",
    "小学门口",
    "菜市场后面",
    "幼儿园附近",
    "十字路口",
    "停车场入口",
    "公园东门",
    "河涌边上",
    "桥底下",
    "小区门口",
    "祠堂前面",
    "工业园",
    "医院对面",
    "银行门口",
    "大排档旁边",
]
SPOTS = ["", "", "附近", "旁边", "那里", "路口", "楼下", "门口", "对面", "后面"]
BUILDINGS = ["{n}号楼", "{n}栋", "{n}巷", "{n}号", "{n}街{m}号", "第{n}排"]
TIMES = [
    "",
    "",
    "",
    "今天早上",
    "昨晚",
    "刚才",
    "这几天",
    "最近",
    "每天晚上",
    "周末",
    "下午三点左右",
    "一大早",
]
OPENERS = [
    "",
    "",
    "",
    "你好，",
    "您好，",
    "反映一下，",
    "投诉：",
    "市民反映：",
    "巡查发现：",
    "紧急！",
]
LINKS = ["有", "发现", "出现", "看到", "又有", "一直有", "存在", "那边"]
MODIFIERS = [
    "",
    "",
    "好几天了",
    "已经一个星期了",
    "很严重",
    "影响通行",
    "影响居民生活",
    "味道很大",
    "很危险",
    "多次反映没人管",
    "太不像话了",
    "晚上特别明显",
    "老人小孩经过很不安全",
    "一直没人处理",
]
REQUESTS = [
    "",
    "",
    "请尽快处理",
    "麻烦派人来看看",
    "希望相关部门处理一下",
    "谢谢",
    "请城管过来",
    "盼复",
    "请核实处理",
]
EN_PLACES = [
    "the metro exit",
    "Sanyuanli Road",
    "the school gate",
    "the market",
    "building 3",
    "the bus stop",
    "Tangge village",
    "the park entrance",
]
EN_TEMPLATES = [
    "{kw} near {place}",
    "There is {kw} at {place}, please handle it",
    "{kw} at {place} for days, nobody cares",
    "Report: {kw} on {place}",
    "Please check the {kw} near {place}",
]
NOISE = ["😡", "！！", "。。。", "?", "👍", " ", "~", "[图片]", "（已拍照）"]


def _place(rng: random.Random) -> str:
    place = rng.choice(PLACES)
    if rng.random() < 0.3:
        place += rng.choice(BUILDINGS).format(n=rng.randint(1, 40), m=rng.randint(1, 99))
    return place + rng.choice(SPOTS)


def _typo(text: str, rng: random.Random) -> str:
    """Drop or double one character, as a hurried phone keyboard does."""
    if len(text) < 4:
        return text
    i = rng.randrange(len(text))
    return text[:i] + text[i + 1 :] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]


def compose(source: Source, rng: random.Random) -> str:
    """One report about `source`'s category, as a resident or an inspector might write it."""
    roll = rng.random()
    if roll < 0.1 and source.english:
        return rng.choice(EN_TEMPLATES).format(
            kw=rng.choice(source.english), place=rng.choice(EN_PLACES)
        )
    subject = rng.choice(source.chinese)
    if rng.random() < 0.25:  # two ways of saying it in one report
        subject = f"{subject}，{rng.choice(source.chinese)}"
    parts = [
        rng.choice(OPENERS),
        rng.choice(TIMES),
        _place(rng),
        rng.choice(LINKS),
        subject,
    ]
    text = "".join(parts)
    for extra in (rng.choice(MODIFIERS), rng.choice(REQUESTS)):
        if extra:
            text += "，" + extra
    if roll > 0.92 and source.english:  # mixed, as a bilingual reporter writes
        text += f" ({rng.choice(source.english)})"
    if rng.random() < 0.1:
        text = _typo(text, rng)
    if rng.random() < 0.15:
        text += rng.choice(NOISE)
    return text


def generate(sources: Sequence[Source], count: int, seed: int) -> tuple[list[str], list[str]]:
    """`count` texts and their category codes, classes equally likely."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(count):
        source = rng.choice(sources)
        texts.append(compose(source, rng))
        labels.append(source.code)
    return texts, labels


def catalogue_sources() -> list[Source]:
    """The active categories of the configured database (the shipped catalogue)."""
    from yunbao.catalog.models import Category

    return [
        Source(c.code, c.name, c.name_en, c.keyword_list)
        for c in Category.objects.filter(active=True).order_by("code")
    ]


def _demo_pairs(orders: int) -> tuple[list[str], list[str], list[str]]:
    """The demo district's closed orders as the project trains on them (texts, labels, keys)."""
    from yunbao.dispatch.training import training_data_from_orders
    from yunbao.web import demo

    demo.load(orders=orders, progress=lambda line: None)
    data = training_data_from_orders()
    return data.texts, data.labels, data.keys


def run(smoke: bool = False, seed: int = 2025) -> dict[str, float]:
    """Generate, train, predict and cross-validate in the configured database; print and
    return the figures."""
    from yunbao.dispatch import classifier

    size = SMOKE if smoke else FULL
    sources = catalogue_sources()
    texts, labels = generate(sources, size["texts"], seed)
    cut = len(texts) * 4 // 5
    print(
        f"{len(texts):,} generated texts in {len(sources)} categories "
        f"(e.g. {texts[0]!r} → {labels[0]})"
    )
    classifier.tokenize("预热")  # jieba's dictionary loads once per process: not training

    started = time.perf_counter()
    model = classifier.train(texts[:cut], labels[:cut])
    train_s = time.perf_counter() - started
    held = classifier.score(model, texts[cut:], labels[cut:])
    blob = len(model.to_bytes())
    print(
        f"trained on {cut:,} texts in {train_s:.1f} s (converged: {model.converged}); "
        f"stored model {blob / 1e6:.1f} MB"
    )
    print(
        f"held-out {len(texts) - cut:,} texts: macro-F1 {held.macro_f1:.3f}, "
        f"accuracy {held.accuracy:.3f}"
    )

    started = time.perf_counter()
    model.predict(texts[cut:])
    batched_per_s = (len(texts) - cut) / (time.perf_counter() - started)
    singles = texts[cut : cut + size["single"]]
    started = time.perf_counter()
    for text in singles:
        model.predict_one(text)
    single_per_s = len(singles) / (time.perf_counter() - started)
    print(f"predictions: {batched_per_s:,.0f}/s batched, {single_per_s:,.0f}/s one at a time")

    if not smoke:
        started = time.perf_counter()
        classifier.train(texts, labels)
        full_train_s = time.perf_counter() - started
        print(f"trained on all {len(texts):,} texts in {full_train_s:.1f} s")
    else:
        full_train_s = train_s

    n = size["cv_texts"]
    started = time.perf_counter()
    cv = classifier.evaluate(texts[:n], labels[:n], 5)
    cv_s = time.perf_counter() - started
    print(
        f"5-fold cross-validation on {n:,} generated texts: macro-F1 {cv.macro_f1:.3f} "
        f"(folds {min(cv.fold_macro_f1):.3f}–{max(cv.fold_macro_f1):.3f}), "
        f"accuracy {cv.accuracy:.3f}, {cv_s:.0f} s"
    )
    figures = {
        "texts": float(len(texts)),
        "train_seconds": train_s,
        "train_all_seconds": full_train_s,
        "heldout_macro_f1": held.macro_f1,
        "heldout_accuracy": held.accuracy,
        "batched_per_s": batched_per_s,
        "single_per_s": single_per_s,
        "cv_macro_f1": cv.macro_f1,
        "model_mb": blob / 1e6,
    }

    if size["demo_orders"]:
        demo_texts, demo_labels, demo_keys = _demo_pairs(size["demo_orders"])
        demo_cv = classifier.evaluate(demo_texts, demo_labels, 5, groups=demo_keys)
        kept = demo_cv.samples
        print(
            f"demo district, {size['demo_orders']:,} orders: 5-fold macro-F1 "
            f"{demo_cv.macro_f1:.3f} on {kept} closed orders in {len(demo_cv.labels)} "
            f"categories ({len(demo_cv.dropped)} categories with fewer than 5 left out); "
            f"chance is about {1 / max(1, len(set(demo_labels))):.3f}"
        )
        print(
            "  the demo's descriptions are built from each category's catalogue keywords, "
            "places and endings (yunbao.web.demo.describe), about 10 % left empty"
        )
        figures["demo_orders"] = float(kept)
        figures["demo_macro_f1"] = demo_cv.macro_f1
    return figures


def main() -> None:
    """Run in a throwaway SQLite database under var/, deleted afterwards."""
    with throwaway_database("classifier"):
        print("== category classifier (generated labelled reports, demo orders)")
        run(smoke="--smoke" in sys.argv[1:])


if __name__ == "__main__":
    main()
