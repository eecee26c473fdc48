"""The REST API app: API tokens, webhook subscriptions and their delivery."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "yunbao.api"
    label = "api"
    verbose_name = _("REST API")

    def ready(self) -> None:
        # Webhooks hear order events inside the move's transaction (workorders cannot import
        # the API) and overdue alerts inside the SLA sweep's batch transaction.
        from yunbao.api import webhooks

        webhooks.connect()
