"""An activity as an iCalendar file (RFC 5545) with a reminder an hour before: the phone's
own calendar reminds the volunteer, with or without an account and without any message
channel of ours."""

from __future__ import annotations

from datetime import UTC, datetime

from yunbao.community.models import Activity

REMINDER = "-PT1H"


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r", "")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545 §3.1), never inside a character."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 74:
            out.append(current)
            current = " " + char
        else:
            current += char
    out.append(current)
    return "\r\n".join(out)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def activity_ics(activity: Activity, url: str) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Yunbao//Community//ZH",
        "BEGIN:VEVENT",
        f"UID:activity-{activity.pk}@yunbao",
        f"DTSTAMP:{_utc(activity.created_at)}",
        f"DTSTART:{_utc(activity.starts_at)}",
        f"DTEND:{_utc(activity.ends_at)}",
        f"SUMMARY:{_escape(activity.title)}",
        f"LOCATION:{_escape(activity.place)}",
        f"GEO:{activity.lat:.6f};{activity.lon:.6f}",
        f"DESCRIPTION:{_escape(activity.description)}",
        f"URL:{url}",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"DESCRIPTION:{_escape(activity.title)}",
        f"TRIGGER:{REMINDER}",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
