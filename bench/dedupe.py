"""Benchmark: how well duplicate detection tells repeats from new problems, and how fast.

Builds a town of 5 km × 5 km (grids of 250 m), files `originals` open orders at random
points through `actions.submit` (categories from the shipped catalogue, residents' wording
from templates, reported over the last ten days), then checks labelled new reports with
`find_candidates` + `decide` and prints precision and recall of the automatic merge and of
"merge or suggest", the outcome per kind of report, and checks and candidates per second.

The new reports are checked, not filed, so they never become candidates of one another.
Kinds of report:

- true duplicates: the same category, 0–60 m from the original, 0–12 h later, in other
  words (a different paraphrase, a landmark and polite phrases or not); some without a
  category, as a resident who skips the category question sends them;
- false duplicates: the same category 400–1500 m away; the same place in another category
  (some without a category); the same place in a related category ("垃圾桶满溢" beside
  "暴露垃圾"); the same place and category but another problem ("长椅坏了" beside
  "健身器材坏了"); the same place, category and problem but 2–7 days after the original.

Same-category originals are generated at least 2 × radius + 60 m apart and every false
report is placed where nothing of its category (or problem) is open within the radius, so a
label is never contradicted by a chance neighbour.

    .venv/bin/python -m bench.dedupe            # throwaway SQLite database under var/
    .venv/bin/python -m bench.dedupe --smoke    # small town, few reports

`run()` measures in whatever database Django is configured with (a test calls it with
`smoke=True` inside its test database).
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.common import throwaway_database

FULL = {"cells": 20, "originals": 800, "true": 600, "false": 600}
SMOKE = {"cells": 6, "originals": 40, "true": 40, "false": 40}
CELL_M = 250
SOUTH, WEST = 23.36, 113.27
# Reports are dated relative to this fixed time so every run sees the same calendar.
NOW = datetime(2025, 6, 16, 4, 0, tzinfo=UTC)

# Category code → its problems, each a list of ways residents put it.
ISSUES: dict[str, list[list[str]]] = {
    "E0102": [  # 暴露垃圾
        [
            "路边有垃圾",
            "这里垃圾很多没人清理",
            "垃圾堆在路口",
            "路边一堆垃圾，好臭",
            "有人乱扔垃圾，堆了很多",
            "垃圾没人收，越堆越多",
        ]
    ],
    "E0602": [  # 垃圾桶满溢
        [
            "垃圾桶满了溢出来了",
            "垃圾桶装不下了，垃圾撒了一地",
            "桶里的垃圾满出来好几天了",
            "垃圾箱满溢没人清运",
            "垃圾桶爆满，周围全是垃圾袋",
        ]
    ],
    "E0505": [  # 机动车乱停放
        [
            "有车乱停挡住了路",
            "小汽车停在人行道上",
            "车子乱停占了盲道",
            "一辆轿车停在路中间好久了",
            "汽车乱停放，行人走不过去",
        ]
    ],
    "E0506": [  # 非机动车乱停放
        [
            "共享单车乱停挡路",
            "自行车堆在人行道上",
            "一堆电动车停在盲道上",
            "单车倒了一地没人管",
            "电瓶车乱放把路堵了",
        ]
    ],
    "C0102": [  # 污水井盖
        [
            "井盖丢了很危险",
            "路上井盖没有了，有个大洞",
            "井盖破了一个角",
            "井盖松动，车压过去哐哐响",
            "下水道井盖坏了，小心掉下去",
        ]
    ],
    "E0110": [  # 道路破损
        [
            "路面坏了有个坑",
            "马路上有大坑，车开过去很颠",
            "路面开裂坑坑洼洼",
            "路上有个大坑很危险",
            "这段路烂了，到处是坑",
        ],
        [
            "人行道地砖松了",
            "人行道砖翘起来了容易绊倒",
            "路边的地砖坏了好几块",
            "地砖碎了一片没人修",
        ],
    ],
    "C0118": [  # 路灯
        [
            "路灯不亮",
            "晚上路灯坏了，很黑",
            "这一排路灯都不亮了",
            "路灯一闪一闪的，坏了",
            "路灯灭了好几天",
        ]
    ],
    "E0406": [  # 道路积水
        [
            "下雨后路上积水很深",
            "路面积水，行人过不去",
            "马路积水成河了",
            "这里一下雨就积水，车都开不过",
        ]
    ],
    "E0201": [  # 非法小广告
        [
            "墙上贴满了小广告",
            "电线杆上有很多小广告",
            "到处乱贴小广告，很难看",
            "楼道里被贴了好多办证广告",
        ]
    ],
    "E0604": [  # 树木倒伏断枝
        [
            "树枝断了挡在路上",
            "大风把树吹倒了",
            "一根大树枝掉下来压在人行道上",
            "树歪了快倒了，很危险",
        ]
    ],
    "E0607": [  # 公共设施损坏
        [
            "长椅坏了",
            "公园长椅断了一条腿",
            "路边的座椅烂了不能坐",
            "休息的长凳坏了",
        ],
        [
            "健身器材坏了",
            "小区门口的健身器材损坏",
            "健身器械断了，老人用很危险",
            "运动器材松了没人修",
        ],
    ],
    "E0508": [  # 经营性噪声
        [
            "店铺音响声音太大",
            "商店门口喇叭天天放，很吵",
            "店家用大喇叭叫卖，吵死了",
            "门口放音乐太响了",
        ]
    ],
    "E0301": [  # 施工扰民
        [
            "工地晚上施工很吵",
            "半夜还在施工，噪音扰民",
            "工地天天夜里干活，睡不着",
            "施工机器太吵了，晚上也不停",
        ]
    ],
}
# Related categories a resident (or the classifier) may confuse with each other.
RELATED = {
    "E0102": "E0602",
    "E0602": "E0102",
    "E0505": "E0506",
    "E0506": "E0505",
    "C0102": "E0110",
    "E0110": "C0102",
    "C0118": "E0607",
    "E0607": "C0118",
    "E0406": "E0110",
    "E0201": "E0102",
    "E0604": "E0607",
    "E0508": "E0301",
    "E0301": "E0508",
}
LANDMARKS = [
    "幸福小区门口",
    "公交站旁边",
    "实验小学对面",
    "菜市场附近",
    "十字路口",
    "人民公园东门",
    "地铁站出口",
    "便利店门口",
    "桥下",
    "医院后门",
]
OPENINGS = ["", "", "", "你好，", "麻烦处理一下，", "请尽快处理："]
ENDINGS = ["", "", "", "，已经好几天了", "，希望尽快处理", "，谢谢", "！"]


@dataclass
class Original:
    pk: int
    lat: float
    lon: float
    code: str
    issue: int
    landmark: str
    created_at: datetime


@dataclass
class Report:
    kind: str
    lat: float
    lon: float
    code: str | None
    text: str
    at: datetime
    # The order it repeats; None for a new problem.
    original: int | None


def _words(rng: random.Random, code: str, issue: int, landmark: str) -> str:
    """A resident's sentence about the problem, maybe naming the landmark."""
    place = landmark if rng.random() < 0.35 else ""
    core = rng.choice(ISSUES[code][issue])
    return f"{rng.choice(OPENINGS)}{place}{core}{rng.choice(ENDINGS)}"


def _offset(lat: float, lon: float, metres: float, rng: random.Random) -> tuple[float, float]:
    from yunbao.geo.synthetic import metres_per_degree

    per_lat, per_lon = metres_per_degree(lat)
    bearing = rng.uniform(0, 2 * math.pi)
    return lat + metres * math.cos(bearing) / per_lat, lon + metres * math.sin(bearing) / per_lon


def run(smoke: bool = False, seed: int = 2025) -> dict[str, float]:
    """Build the town and the labelled set in the configured database, measure, print and
    return the figures (`seed` picks another random set of the same kind)."""
    from django.conf import settings

    from yunbao.catalog.models import Category
    from yunbao.geo.synthetic import build_district, build_town
    from yunbao.intake.dedupe import decide, find_candidates, haversine_m, text_similarities
    from yunbao.workorders import actions

    size: dict[str, int] = SMOKE if smoke else FULL
    rng = random.Random(seed)
    radius = float(settings.YUNBAO_DEDUPE_RADIUS_M)
    categories = {c.code: c for c in Category.objects.filter(code__in=ISSUES)}
    missing = set(ISSUES) - set(categories)
    if missing:
        raise RuntimeError(f"categories missing from the catalogue: {sorted(missing)}")

    started = time.perf_counter()
    district = build_district(
        "990200",
        "查重区",
        "Dedupe District",
        "dedupe.bench.yunbao.org",
        (SOUTH - 0.05, WEST - 0.05, SOUTH + 0.1, WEST + 0.1),
    )
    cells = size["cells"]
    town = build_town(
        district=district,
        code="990200001",
        name="查重镇",
        name_en="Dedupe Town",
        south=SOUTH,
        west=WEST,
        rows=cells,
        cols=cells,
        cell_m=CELL_M,
        communities=(2, 2),
    )
    # Keep every point (and its 60 m neighbourhood) inside the town's grids.
    margin = 0.004
    south, west = town.min_lat + margin, town.min_lon + margin
    north, east = town.max_lat - margin, town.max_lon - margin

    def inside(lat: float, lon: float) -> bool:
        return south <= lat <= north and west <= lon <= east

    originals: list[Original] = []
    by_code: dict[str, list[Original]] = defaultdict(list)

    def clear(lat: float, lon: float, code: str, distance: float, skip: int | None = None) -> bool:
        """No original of `code` (but `skip`) within `distance` of the point."""
        return all(
            o.pk == skip or haversine_m(lat, lon, o.lat, o.lon) > distance for o in by_code[code]
        )

    codes = sorted(ISSUES)
    spacing = 2 * radius + 60
    while len(originals) < size["originals"]:
        code = rng.choice(codes)
        lat, lon = rng.uniform(south, north), rng.uniform(west, east)
        if not clear(lat, lon, code, spacing):
            continue
        issue = rng.randrange(len(ISSUES[code]))
        landmark = rng.choice(LANDMARKS)
        created_at = NOW - timedelta(hours=rng.uniform(0, 240))
        order = actions.submit(
            actor=None,
            lat=lat,
            lon=lon,
            category=categories[code],
            description=_words(rng, code, issue, landmark),
            at=created_at,
        )
        original = Original(order.pk, lat, lon, code, issue, landmark, created_at)
        originals.append(original)
        by_code[code].append(original)
    build_seconds = time.perf_counter() - started

    reports: list[Report] = []

    def near(o: Original, top: float) -> tuple[float, float]:
        return _offset(o.lat, o.lon, rng.uniform(0, top), rng)

    def soon(o: Original) -> datetime:
        return o.created_at + timedelta(hours=rng.uniform(0.05, 12))

    while len(reports) < size["true"]:
        o = rng.choice(originals)
        lat, lon = near(o, 60)
        if not inside(lat, lon):
            continue
        n = len(reports)
        # One in six residents skips the category question.
        uncategorised = n % 6 == 5
        reports.append(
            Report(
                "true duplicate, no category" if uncategorised else "true duplicate",
                lat,
                lon,
                None if uncategorised else o.code,
                _words(rng, o.code, o.issue, o.landmark),
                soon(o),
                o.pk,
            )
        )

    false_kinds = (
        "far, same category",
        "same place, other category",
        "same place, other category, no category",
        "same place, related category",
        "same place and category, other problem",
        "same place and problem, days later",
    )
    several = [o for o in originals if len(ISSUES[o.code]) > 1]
    made = 0
    while made < size["false"]:
        kind = false_kinds[made % len(false_kinds)]
        o = rng.choice(several if kind == "same place and category, other problem" else originals)
        at = soon(o)
        if kind == "far, same category":
            lat, lon = _offset(o.lat, o.lon, rng.uniform(400, 1500), rng)
            code, text = o.code, _words(rng, o.code, o.issue, rng.choice(LANDMARKS))
            ok = clear(lat, lon, code, radius + 1)
            category: str | None = code
        elif kind.startswith("same place, other category"):
            lat, lon = near(o, 40)
            code = rng.choice([c for c in codes if c not in (o.code, RELATED[o.code])])
            issue = rng.randrange(len(ISSUES[code]))
            text = _words(rng, code, issue, o.landmark)
            ok = clear(lat, lon, code, radius + 1)
            category = None if kind.endswith("no category") else code
        elif kind == "same place, related category":
            lat, lon = near(o, 40)
            code = RELATED[o.code]
            text = _words(rng, code, rng.randrange(len(ISSUES[code])), o.landmark)
            ok = clear(lat, lon, code, radius + 1)
            category = code
        elif kind == "same place and category, other problem":
            lat, lon = near(o, 40)
            issue = rng.choice([i for i in range(len(ISSUES[o.code])) if i != o.issue])
            text = _words(rng, o.code, issue, o.landmark)
            ok = True  # the only same-category original within reach is `o` itself
            category = o.code
        else:  # same place and problem, days later
            lat, lon = near(o, 40)
            at = o.created_at + timedelta(hours=rng.uniform(48, 168))
            text = _words(rng, o.code, o.issue, o.landmark)
            ok = True
            category = o.code
        if not ok or not inside(lat, lon):
            continue
        reports.append(Report(kind, lat, lon, category, text, at, None))
        made += 1

    # scikit-learn is imported on first use; a server pays that once, not per report.
    text_similarities("warm up", ["warm up"])

    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    merged = merged_right = flagged = flagged_right = 0
    checked = candidates_seen = 0
    elapsed = 0.0
    for report in reports:
        category_id = categories[report.code].pk if report.code else None
        begun = time.perf_counter()
        candidates = find_candidates(
            lat=report.lat, lon=report.lon, category_id=category_id, text=report.text, at=report.at
        )
        decision = decide(candidates)
        elapsed += time.perf_counter() - begun
        checked += 1
        candidates_seen += len(candidates)
        right = (
            decision.candidate is not None
            and report.original is not None
            and decision.candidate.order.pk == report.original
        )
        outcome: str = decision.kind
        if decision.kind != "none" and report.original is not None and not right:
            outcome += " (wrong order)"
        outcomes[report.kind][outcome] += 1
        if decision.kind == "merge":
            merged += 1
            merged_right += right
        if decision.kind in ("merge", "suggest"):
            flagged += 1
            flagged_right += right

    duplicates = sum(r.original is not None for r in reports)
    figures = {
        "originals": float(len(originals)),
        "reports": float(len(reports)),
        "true_duplicates": float(duplicates),
        "merged": float(merged),
        "merged_right": float(merged_right),
        "flagged": float(flagged),
        "flagged_right": float(flagged_right),
        # No decision at all is vacuously precise; the counts beside it tell.
        "merge_precision": round(merged_right / merged, 3) if merged else 1.0,
        "merge_recall": round(merged_right / duplicates, 3) if duplicates else 0.0,
        "flag_precision": round(flagged_right / flagged, 3) if flagged else 1.0,
        "flag_recall": round(flagged_right / duplicates, 3) if duplicates else 0.0,
        "checks_per_s": round(checked / elapsed, 1),
        "candidates_per_s": round(candidates_seen / elapsed, 1),
        "build_seconds": round(build_seconds, 2),
    }
    _print(figures, outcomes)
    return figures


def _print(figures: dict[str, float], outcomes: dict[str, Counter[str]]) -> None:
    print(
        f"{figures['originals']:.0f} open orders, {figures['reports']:.0f} new reports "
        f"({figures['true_duplicates']:.0f} true duplicates); "
        f"set up in {figures['build_seconds']:.1f} s"
    )
    print(f"{'kind of report':<42} {'merge':>6} {'suggest':>8} {'none':>6} {'wrong':>6}")
    for kind, counts in outcomes.items():
        wrong = sum(v for k, v in counts.items() if "wrong" in k)
        print(
            f"{kind:<42} {counts['merge']:>6} {counts['suggest']:>8} {counts['none']:>6} {wrong:>6}"
        )
    print(
        f"auto-merge:        precision {figures['merge_precision']:.3f}  "
        f"recall {figures['merge_recall']:.3f}  "
        f"({figures['merged_right']:.0f} right of {figures['merged']:.0f})"
    )
    print(
        f"merge or suggest:  precision {figures['flag_precision']:.3f}  "
        f"recall {figures['flag_recall']:.3f}  "
        f"({figures['flagged_right']:.0f} right of {figures['flagged']:.0f})"
    )
    print(
        f"speed: {figures['checks_per_s']:,.0f} reports checked/s, "
        f"{figures['candidates_per_s']:,.0f} candidates scored/s"
    )


def main() -> None:
    """Run in a throwaway SQLite database under var/, deleted afterwards."""
    with throwaway_database("dedupe"):
        print("== duplicate detection (labelled synthetic reports)")
        run(smoke="--smoke" in sys.argv[1:])


if __name__ == "__main__":
    main()
