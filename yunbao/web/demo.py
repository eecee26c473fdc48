"""The demo district: a Baiyun-like district with the pilot's three areas, people and history.

三元里街 (an urban village run as "big property management"), 白云湖街 with 唐阁村 (the
800-order pilot) and 江高镇 (about 100 km², 10,000 grids of 100 m), at roughly their real
coordinates; units, staff of every role with rosters, and a few thousand orders over the
past months in every state. Every order is made through the real actions with historical
times, so timelines, deadlines and on-time flags obey the same rules as live orders.

Loading is idempotent: what exists is kept, what is missing is added.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone
from PIL import Image

from yunbao.catalog.models import Category
from yunbao.geo.models import Area, Level
from yunbao.geo.synthetic import build_district, build_town
from yunbao.org.actions import create_staff, set_roles
from yunbao.org.models import Role, Shift, StaffProfile, Unit, UnitKind
from yunbao.workorders import actions
from yunbao.workorders.models import Source, Status, WorkOrder

User = get_user_model()

DISTRICT_CODE = "440111"
JURISDICTION_ID = "demo.yunbao.org"
PREFIX = "demo-"

# (code, zh, en, south, west, rows, cols, communities, community names)
TOWNS: list[tuple[str, str, str, float, float, int, int, tuple[int, int], list[str]]] = [
    (
        "440111001",
        "三元里街",
        "Sanyuanli Subdistrict",
        23.155,
        113.255,
        20,
        20,
        (2, 2),
        ["三元里村", "松柏社区", "瑶台社区", "机场路社区"],
    ),
    (
        "440111002",
        "白云湖街",
        "Baiyunhu Subdistrict",
        23.215,
        113.225,
        25,
        25,
        (2, 2),
        ["唐阁村", "夏茅村", "石马村", "大朗村"],
    ),
    (
        "440111003",
        "江高镇",
        "Jianggao Town",
        23.26,
        113.17,
        100,
        100,
        (5, 5),
        [
            "江村",
            "南岗村",
            "大田村",
            "泉溪村",
            "井岗村",
            "水沥村",
            "双岗村",
            "杨山村",
            "长岗村",
            "何布村",
            "叶边村",
            "罗溪村",
            "珠江村",
            "大岭村",
            "五丰村",
            "塘贝村",
            "勤星村",
            "小塘村",
            "沙溪村",
            "峡石村",
            "蓼江村",
            "雄丰村",
            "朗头村",
            "新楼村",
            "江高村",
        ],
    ),
]

UNITS: list[tuple[str, str, str, str, list[str]]] = [
    (
        "baiyun-sanitation",
        "白云环卫服务有限公司",
        "Baiyun Sanitation Services",
        UnitKind.SANITATION,
        ["440111002", "440111003"],
    ),
    (
        "sanyuanli-property",
        "三元里大物管物业公司",
        "Sanyuanli Property Management",
        UnitKind.PROPERTY,
        ["440111001"],
    ),
    (
        "baiyun-greening",
        "区绿化养护队",
        "District Greening Team",
        UnitKind.GREENING,
        [DISTRICT_CODE],
    ),
    (
        "baiyun-squad",
        "城管执法中队",
        "Urban-Management Squad",
        UnitKind.ENFORCEMENT,
        [DISTRICT_CODE],
    ),
]

# One demo user per role (username, role, unit code, area codes, display name).
PEOPLE: list[tuple[str, str, str | None, list[str], str]] = [
    ("admin", Role.ADMIN, None, [DISTRICT_CODE], "系统管理员"),
    ("manager", Role.MANAGER, None, [DISTRICT_CODE], "运营中心 林经理"),
    ("dispatcher", Role.DISPATCHER, None, [DISTRICT_CODE], "调度员 陈敏"),
    ("supervisor", Role.SUPERVISOR, "baiyun-sanitation", [DISTRICT_CODE], "环卫主管 黄伟"),
    ("worker", Role.WORKER, "baiyun-sanitation", ["440111002"], "环卫工 李强"),
    ("inspector", Role.INSPECTOR, None, [DISTRICT_CODE], "巡查员 张丽"),
    ("resident", Role.RESIDENT, None, [], "唐阁村居民 王阿姨"),
    ("organiser", Role.ORGANISER, None, ["440111002"], "社工 周洁"),
]
# More staff so every unit can work: (username, role, unit, areas, name).
CREW: list[tuple[str, str, str | None, list[str], str]] = [
    ("worker2", Role.WORKER, "baiyun-sanitation", ["440111002"], "环卫工 赵芳"),
    ("worker3", Role.WORKER, "baiyun-sanitation", ["440111003"], "环卫工 刘军"),
    ("worker4", Role.WORKER, "baiyun-sanitation", ["440111003"], "环卫工 孙红"),
    ("worker5", Role.WORKER, "sanyuanli-property", ["440111001"], "管家 吴涛"),
    ("worker6", Role.WORKER, "sanyuanli-property", ["440111001"], "管家 郑霞"),
    ("worker7", Role.WORKER, "baiyun-greening", [DISTRICT_CODE], "绿化工 何勇"),
    ("worker8", Role.WORKER, "baiyun-squad", [DISTRICT_CODE], "队员 冯斌"),
    ("supervisor2", Role.SUPERVISOR, "sanyuanli-property", ["440111001"], "物业主管 许静"),
    ("supervisor3", Role.SUPERVISOR, "baiyun-greening", [DISTRICT_CODE], "绿化队长 邓辉"),
    ("supervisor4", Role.SUPERVISOR, "baiyun-squad", [DISTRICT_CODE], "中队长 曹磊"),
]


@dataclass
class Summary:
    areas: int = 0
    users: int = 0
    orders: int = 0
    log: list[str] = field(default_factory=list)


def load(*, orders: int = 3000, seed: int = 7, progress: Callable[[str], None] = print) -> Summary:
    """Build whatever of the demo is missing and return what was added."""
    summary = Summary()
    district = _areas(summary, progress)
    units = _units(district)
    _rules(district, units)
    people = _people(units, summary)
    # Badges, vehicles and a few hours of tracks for the live map (yunbao.fleet).
    from yunbao.fleet.demo_fleet import load_fleet

    load_fleet(units, people, progress=progress)
    # Volunteer activities with sign-ups and check-ins (yunbao.community).
    from yunbao.community.demo import load_community

    load_community(people, progress=progress)
    if not WorkOrder.objects.exists():
        # History is replayed with its own decisions; no background decision for each order.
        with override_settings(YUNBAO_DECIDE_ON_SUBMIT=False):
            _orders(orders, random.Random(seed), units, people, summary, progress)
        # Fresh statistics, so the planner picks the position index for nearby searches.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return summary


def _areas(summary: Summary, progress: Callable[[str], None]) -> Area:
    district = Area.objects.filter(code=DISTRICT_CODE).first()
    if district is None:
        district = build_district(
            DISTRICT_CODE,
            "白云区",
            "Baiyun District",
            JURISDICTION_ID,
            (23.13, 113.15, 23.43, 113.50),
        )
        summary.areas += 1
    for code, zh, en, south, west, rows, cols, communities, names in TOWNS:
        if Area.objects.filter(code=code).exists():
            continue
        progress(f"building {zh} ({rows * cols} grids)…")
        build_town(
            district=district,
            code=code,
            name=zh,
            name_en=en,
            south=south,
            west=west,
            rows=rows,
            cols=cols,
            communities=communities,
            community_names=names,
        )
        summary.areas += 1 + communities[0] * communities[1] + rows * cols
    return district


def _units(district: Area) -> dict[str, Unit]:
    units = {}
    for code, zh, en, kind, area_codes in UNITS:
        unit, _ = Unit.objects.get_or_create(
            code=code, defaults={"name": zh, "name_en": en, "kind": kind}
        )
        unit.areas.set(Area.objects.filter(code__in=area_codes))
        units[code] = unit
    return units


def _rules(district: Area, units: dict[str, Unit]) -> None:
    """Routing rules mirroring `_unit_for`, so new reports can be dispatched automatically."""
    from yunbao.dispatch.actions import save_rule
    from yunbao.dispatch.models import RoutingRule

    sanyuanli = Area.objects.get(code="440111001")
    wanted = [
        ("", district, "baiyun-sanitation"),
        ("", sanyuanli, "sanyuanli-property"),
        ("component:04", district, "baiyun-greening"),
        ("event:02", district, "baiyun-squad"),
        ("event:03", district, "baiyun-squad"),
        ("event:05", district, "baiyun-squad"),
    ]
    for group, area, unit_code in wanted:
        if not RoutingRule.objects.filter(category=None, category_group=group, area=area).exists():
            rule = RoutingRule(category_group=group, area=area, unit=units[unit_code])
            save_rule(rule, actor=None)


def _people(units: dict[str, Unit], summary: Summary) -> dict[str, Any]:
    from django.conf import settings

    people = {}
    for name, role, unit_code, area_codes, display in PEOPLE + CREW:
        username = PREFIX + name
        user = User.objects.filter(username=username).first()
        areas = list(Area.objects.filter(code__in=area_codes))
        unit = units.get(unit_code) if unit_code else None
        if user is None:
            user = create_staff(
                username=username,
                password=settings.YUNBAO_DEMO_PASSWORD,
                roles=[role],
                unit=unit,
                areas=areas,
                display_name=display,
            )
            summary.users += 1
        else:
            set_roles(user, [role])
        user.is_staff = role in (Role.ADMIN, Role.MANAGER)
        user.is_superuser = role == Role.ADMIN
        user.save()
        if role == Role.WORKER and not Shift.objects.filter(user=user).exists():
            night = name == "worker4"
            Shift.objects.bulk_create(
                Shift(
                    user=user,
                    weekday=day,
                    start=time(19) if night else time(7),
                    end=time(7) if night else time(19),
                )
                for day in range(7)
                if day != len(name) % 7  # one day off a week
            )
        people[name] = user
    return people


# Which unit takes a category: by the standard's major class.
def _unit_for(category: Category, street_code: str, units: dict[str, Unit]) -> Unit:
    if (category.kind == "component" and category.major_code == "04") or category.code.startswith(
        "E07"
    ):
        return units["baiyun-greening"]
    if category.kind == "event" and category.major_code in {"02", "03", "05"}:
        return units["baiyun-squad"]
    if street_code == "440111001":
        return units["sanyuanli-property"]
    return units["baiyun-sanitation"]


# How residents describe a problem: a place, what they see (the category's own words), and
# how they feel about it. Descriptions follow the category, so a classifier trained on the
# demo's closed orders learns something real.
PLACES = ["路口", "村口", "菜市场旁边", "小学门口", "公交站", "巷子里", "河边", "停车场", ""]
ENDINGS = ["，好几天了", "，麻烦尽快处理", "，影响通行", "，很久没人管", "。", ""]


def describe(category: Category, rng: random.Random) -> str:
    """A resident-like description of a problem of `category`."""
    words = category.keyword_list or [category.name]
    what = rng.choice(words)
    if rng.random() < 0.3:
        what = f"{what}，{rng.choice(words)}"
    return f"{rng.choice(PLACES)}{what}{rng.choice(ENDINGS)}"


_AFTER_PHOTOS: dict[str, actions.PhotoInput] = {}


def _after_photo() -> actions.PhotoInput:
    """The one after-photo every demo order is finished with (stored once per media root)."""
    root = str(settings.MEDIA_ROOT)
    if root not in _AFTER_PHOTOS:
        buffer = io.BytesIO()
        Image.new("RGB", (640, 480), (96, 160, 96)).save(buffer, "JPEG", quality=70)
        name = default_storage.save("photos/demo/after.jpg", ContentFile(buffer.getvalue()))
        _AFTER_PHOTOS[root] = actions.PhotoInput(image=name, width=640, height=480)
    return _AFTER_PHOTOS[root]


def _orders(
    count: int,
    rng: random.Random,
    units: dict[str, Unit],
    people: dict[str, Any],
    summary: Summary,
    progress: Callable[[str], None],
) -> None:
    categories = list(
        Category.objects.filter(active=True).prefetch_related("time_limits", "scenes")
    )
    grids = list(
        Area.objects.filter(level=Level.GRID).values_list(
            "path", "min_lat", "min_lon", "max_lat", "max_lon"
        )
    )
    streets = {a.pk: a.code for a in Area.objects.filter(level=Level.STREET)}
    workers: dict[int, list[Any]] = {}
    supervisors: dict[int, Any] = {}
    for profile in StaffProfile.objects.select_related("user").filter(unit__isnull=False):
        if profile.user.groups.filter(name=Role.WORKER).exists():
            workers.setdefault(profile.unit_id or 0, []).append(profile.user)
        if profile.user.groups.filter(name=Role.SUPERVISOR).exists():
            supervisors[profile.unit_id or 0] = profile.user
    now = timezone.now()
    chunk = 250
    for start in range(0, count, chunk):
        with transaction.atomic():
            for _ in range(min(chunk, count - start)):
                _one_order(
                    rng, now, categories, grids, streets, units, workers, supervisors, people
                )
                summary.orders += 1
        progress(f"orders: {summary.orders}/{count}")


def _one_order(
    rng: random.Random,
    now: datetime,
    categories: list[Category],
    grids: list[Any],
    streets: dict[int, str],
    units: dict[str, Unit],
    workers: dict[int, list[Any]],
    supervisors: dict[int, Any],
    people: dict[str, Any],
) -> None:
    # Older orders are rarer than recent ones: the pilot grew.
    age = timedelta(days=120 * rng.random() ** 1.5, minutes=rng.randint(0, 600))
    at = now - age
    path, s, w, n, e = rng.choice(grids)
    lat, lon = rng.uniform(s, n), rng.uniform(w, e)
    category = rng.choice(categories)
    street_code = streets[int(path.strip("/").split("/")[1])]
    kind = rng.random()
    reporter = people["inspector"] if kind < 0.35 else people["resident"] if kind < 0.6 else None
    order = actions.submit(
        actor=reporter,
        lat=lat,
        lon=lon,
        category=category if rng.random() < 0.8 else None,
        description=describe(category, rng) if rng.random() < 0.9 else "",
        at=at,
        source=Source.INSPECTOR if reporter == people["inspector"] else Source.RESIDENT,
        reporter_name="" if reporter else rng.choice(["热心市民", "张先生", "李女士", ""]),
        reporter_phone="" if reporter else f"139{rng.randint(10000000, 99999999)}",
    )
    desk = people["dispatcher"] if rng.random() < 0.5 else None

    def later(minutes_low: float, minutes_high: float) -> datetime | None:
        nonlocal at
        at = at + timedelta(minutes=rng.uniform(minutes_low, minutes_high))
        return at if at < now else None

    def towards(due: datetime | None, low: float = 0.1, high: float = 0.85) -> datetime | None:
        """A moment within the running stage's limit, and past it now and then."""
        nonlocal at
        if due is None or due <= at:
            return later(5, 60)
        share = rng.uniform(low, high) if rng.random() < 0.94 else rng.uniform(1.05, 1.8)
        at = at + (due - at) * share
        return at if at < now else None

    fate = rng.random()
    # Most of the last day's reports still wait in the dispatcher's queue.
    if age < timedelta(hours=20) and rng.random() < 0.5:
        if rng.random() < 0.5 and (t := towards(order.accept_due)) is not None:
            actions.accept(order, actor=desk, category=order.category or category, at=t)
        return
    if (t := towards(order.accept_due)) is None:
        return
    if fate < 0.05:
        actions.reject(order, actor=desk, note="不属于城市管理范围", at=t)
        return
    if fate < 0.08:
        other = (
            WorkOrder.objects.filter(category=order.category or category)
            .exclude(status__in=[Status.MERGED, Status.REJECTED, Status.VOIDED])
            .exclude(pk=order.pk)
            .order_by("-created_at")
            .first()
        )
        if other is not None:
            actions.merge(order, actor=desk, into=other, note="重复上报", at=t)
            return
    actions.accept(order, actor=desk, category=order.category or category, at=t)
    unit = _unit_for(order.category or category, street_code, units)
    crew = workers.get(unit.pk, [])
    if (t := towards(order.dispatch_due)) is None:
        return
    actions.dispatch(order, actor=desk, unit=unit, worker=rng.choice(crew) if crew else None, at=t)
    if order.worker is None:
        return
    worker, checker = order.worker, supervisors.get(unit.pk) or people["inspector"]
    if fate > 0.985 and (t := later(30, 120)) is not None:
        actions.suspend(order, actor=checker, note="需协调产权单位", at=t)
        return
    for round_ in range(3):
        if (t := later(5, 30)) is None:
            return
        actions.start(order, actor=worker, at=t)
        if (t := later(5, 40)) is None:
            return
        # Phones place the worker within a few tens of metres of the report.
        jitter = rng.uniform(-0.0003, 0.0003)
        actions.arrive(order, actor=worker, lat=order.lat + jitter, lon=order.lon - jitter, at=t)
        if (t := towards(order.handle_due)) is None:
            return
        actions.finish(order, actor=worker, note="已处理完毕", at=t, photos=[_after_photo()])
        if (t := towards(order.check_due)) is None:
            return
        if round_ == 0 and rng.random() < 0.07:
            actions.rework(order, actor=checker, note="现场仍未清理干净", at=t)
            continue
        actions.verify(order, actor=checker, at=t)
        break
    if order.reporter == people["resident"] and rng.random() < 0.6 and (t := later(30, 600)):
        actions.rate(order, actor=order.reporter, rating=rng.choice([5, 5, 5, 4, 4, 3, 2]), at=t)
