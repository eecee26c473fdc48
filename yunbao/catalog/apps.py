"""Scenes, categories with standard codes, urgency levels and stage time limits."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "yunbao.catalog"
    verbose_name = _("Catalogue")
