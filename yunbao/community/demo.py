"""Demo activities for `yunbao demo`: two held ones (with check-ins, hours and a summary)
and three coming ones with sign-ups, in the demo organiser's villages. Added only when the
demo has no activity yet, so running the demo again changes nothing."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone

from yunbao.community import actions
from yunbao.community.models import Activity, ActivityKind
from yunbao.community.points import sync_points
from yunbao.geo.models import Area, Level
from yunbao.org.roles import areas_of

# (days from today, start hour, hours, kind, title, place, capacity)
PLAN: list[tuple[int, int, int, str, str, str, int]] = [
    (-14, 9, 2, ActivityKind.CLEANUP, "周末清洁家园", "村委会门前广场", 30),
    (-7, 14, 3, ActivityKind.HAIRCUT, "义剪进社区", "长者活动中心", 20),
    (2, 9, 2, ActivityKind.TEACHING, "扫码报事教学", "村口宣传栏", 25),
    (5, 15, 2, ActivityKind.LAWN, "草坪养护志愿行", "村中心绿地", 15),
    (12, 9, 3, ActivityKind.COUPLETS, "新春写春联", "文化室", 40),
]
NICKNAMES = ["王阿姨", "小陈", "李叔", "阿芳", "张大爷", "小林", "刘姐", "阿杰", "周婆婆", "小吴"]


def _at(days: int, hour: int) -> datetime:
    day = timezone.localdate() + timedelta(days=days)
    return datetime.combine(day, time(hour), timezone.get_default_timezone())


def load_community(people: dict[str, Any], *, progress: Callable[[str], None] = print) -> int:
    """Create the demo activities; returns how many were added."""
    organiser = people.get("organiser")
    if organiser is None or Activity.objects.exists():
        return 0
    paths = [a.path for a in areas_of(organiser)]
    villages = [
        v
        for v in Area.objects.filter(level=Level.COMMUNITY).order_by("path")
        if any(v.path.startswith(p) for p in paths)
    ][:3]
    if not villages:
        return 0
    rng = random.Random(9)  # noqa: S311 - repeatable demo data, not a secret
    progress("community: demo activities…")
    for number, (days, hour, hours, kind, title, place, capacity) in enumerate(PLAN):
        village = villages[number % len(villages)]
        starts = _at(days, hour)
        activity = actions.create_activity(
            actions.ActivityInput(
                title=title,
                kind=kind,
                area=village,
                place=place,
                lat=village.center_lat,
                lon=village.center_lon,
                starts_at=starts,
                ends_at=starts + timedelta(hours=hours),
                capacity=capacity,
                description="欢迎邻里报名参加，现场还会教大家用手机扫码报事。",
            ),
            actor=organiser,
        )
        activity = actions.publish(activity, actor=organiser)
        crowd = rng.sample(NICKNAMES, rng.randint(5, len(NICKNAMES)))
        for index, nickname in enumerate(crowd):
            device = f"demo-{activity.pk}-{index}-phone-token"
            if days < 0:  # held: they came, some left early
                arrived = starts + timedelta(minutes=rng.randint(-20, 20))
                actions.self_check_in(
                    activity, actor=None, device=device, nickname=nickname, at=arrived
                )
                left = starts + timedelta(minutes=rng.randint(45, hours * 60))
                actions.self_check_out(activity, actor=None, device=device, at=left)
            else:
                actions.sign_up(activity, actor=None, device=device, nickname=nickname)
        if days < 0:
            actions.close(
                activity,
                actor=organiser,
                summary=f"{len(crowd)} 位居民参加，现场学会扫码报事。",
            )
    sync_points()
    return len(PLAN)
