"""The activity's share and check-in posters, drawn by intake's poster code (`intake.qr`).

Like intake's posters, the text is Chinese whatever the printing organiser's language: the
poster hangs where residents read it. The lines are therefore data here, not messages.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from yunbao.community.actions import checkin_token
from yunbao.community.models import Activity
from yunbao.intake import qr

# Chinese on purpose (see the module docstring).
SHARE_LEAD = "扫码报名：志愿活动，欢迎参加"
CHECKIN_LEAD = "扫码签到 / 签退"
CHECKIN_HINT = "活动开始前30分钟至结束后30分钟内有效"
TIME_FORMAT = "%Y年%m月%d日 %H:%M"


def share_url(request: HttpRequest, activity: Activity) -> str:
    return request.build_absolute_uri(reverse("community:activity", args=[activity.pk]))


def checkin_url(request: HttpRequest, activity: Activity) -> str:
    return request.build_absolute_uri(reverse("community:check-in", args=[checkin_token(activity)]))


def activity_poster(request: HttpRequest, activity: Activity, which: str) -> qr.Poster:
    """The poster of `which` ("share": the sign-up page; "checkin": the check-in page)."""
    chain = activity.area.ancestors()
    when = timezone.localtime(activity.starts_at).strftime(TIME_FORMAT)
    subtitle = qr.SUBTITLE_SEPARATOR.join([when, activity.place])
    if which == "checkin":
        url, lines = checkin_url(request, activity), (CHECKIN_LEAD, CHECKIN_HINT)
    else:
        url, lines = share_url(request, activity), (SHARE_LEAD, activity.area.name)
    return qr.Poster(
        url=url,
        title=activity.title,
        subtitle=subtitle,
        lines=lines,
        brand=qr.brand_line(chain[0] if chain else None),
        footer=f"#{activity.pk}",
    )
