"""Community app: volunteer activities and reporters' engagement."""

from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommunityConfig(AppConfig):
    name = "yunbao.community"
    verbose_name = _("Community participation")

    def ready(self) -> None:
        from yunbao.jobs.schedule import register

        # Points for reports and "me too"s are derived from the orders' timeline by this job
        # rather than by a subscriber on every order move: the report path pays nothing.
        register(
            "community-points", "yunbao.community.tasks.points_task", every=timedelta(minutes=5)
        )
