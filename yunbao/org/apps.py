"""Units, staff and roles, duty rosters."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "yunbao.org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from yunbao.org.permissions import ensure_roles_after_migrate

        # Not business logic: like Django's own permission rows, the role groups must exist
        # after every migrate (new models' permissions; a flushed test database). Why the
        # migration alone is not enough is explained in yunbao.org.permissions.
        post_migrate.connect(
            ensure_roles_after_migrate, sender=self, dispatch_uid="yunbao.org.ensure_roles"
        )
