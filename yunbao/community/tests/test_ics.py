"""The calendar file: escaped text, folded lines, the reminder."""

from __future__ import annotations

import pytest

from yunbao.community.ics import activity_ics

from .conftest import make_activity

pytestmark = pytest.mark.django_db


def test_ics_escapes_and_folds(world, organisers):
    activity = make_activity(world, organisers["one"], title="清洁; 家园, 第一期\\二")
    activity.description = "第一行\n第二行" + "很长的描述" * 30
    text = activity_ics(activity, "https://example.org/community/a/1/")
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert "SUMMARY:清洁\\; 家园\\, 第一期\\\\二\r\n" in text
    assert "DESCRIPTION:第一行\\n第二行" in text
    assert "TRIGGER:-PT1H" in text
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    unfolded = text.replace("\r\n ", "")
    assert "很长的描述" * 30 in unfolded
