"""Periodic fleet jobs, run by `yunbao worker`'s scheduler (registered in `apps.py`)."""

from __future__ import annotations

from django_tasks import task


@task()
def maintain_positions_task() -> str:
    """Make the coming days' position partitions and drop the days past retention."""
    from yunbao.fleet.store import maintain

    return maintain()


@task()
def attendance_alerts_task() -> str:
    """Alert about staff who left their service area during their shift."""
    from yunbao.fleet.attendance import alert_out_of_area

    return alert_out_of_area()
