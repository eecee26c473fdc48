"""Background task of the points job, enqueued every five minutes by the periodic scheduler
(registered in `CommunityConfig.ready`). Safe to run twice: entries have unique keys."""

from __future__ import annotations

from django_tasks import task


@task()
def points_task() -> dict[str, int]:
    from yunbao.community.points import sync_points

    result = sync_points()
    return {"reports": result.reports, "me_toos": result.me_toos, "revoked": result.revoked}
