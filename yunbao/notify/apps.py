"""Notifications app."""

from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotifyConfig(AppConfig):
    name = "yunbao.notify"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Subscribes to order events (workorders cannot import notify).
        from yunbao.jobs.schedule import register
        from yunbao.notify import subscribers  # noqa: F401

        # Retries, crash recovery and anything the on-commit enqueue missed.
        register(
            "notify-deliver", "yunbao.notify.tasks.deliver_outbox_task", every=timedelta(seconds=30)
        )
