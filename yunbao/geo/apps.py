"""Areas (district, street, community, grid) and locating a point in them."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GeoConfig(AppConfig):
    name = "yunbao.geo"
    verbose_name = _("Areas and grids")
