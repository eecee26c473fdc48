"""Insight app: indicators from aggregates, kept current by a catch-up job over the orders
that moved (`store`)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightConfig(AppConfig):
    name = "yunbao.insight"
    verbose_name = _("Indicators")

    def ready(self) -> None:
        from yunbao.insight.store import on_order_event
        from yunbao.workorders import events

        # Inside the move's transaction, so the mark commits with the move or not at all;
        # the counting itself is the catch-up job's (a minute behind, off the hot path).
        events.subscribe_in_transaction(on_order_event)

        from datetime import timedelta

        from yunbao.jobs.schedule import register

        register(
            "insight-catch-up", "yunbao.insight.tasks.catch_up_task", every=timedelta(minutes=1)
        )

        from django.db.models.signals import post_delete, post_save

        from yunbao.geo.models import Area
        from yunbao.insight.store import clear_cache

        # The village of a grid is read from a per-process cache of the area tree; a changed
        # area empties it (areas created in bulk are new ids, which reload it anyway).
        post_save.connect(lambda **kw: clear_cache(), sender=Area, weak=False)
        post_delete.connect(lambda **kw: clear_cache(), sender=Area, weak=False)
