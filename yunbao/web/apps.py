"""Login, the role-aware home page and shared page chrome."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "yunbao.web"
    verbose_name = _("Web pages")
