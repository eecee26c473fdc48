"""The "where would this go?" page: the dispatch decision for a point and a category, explained.

Who may use it: logged-in dispatchers, operations managers, supervisors and administrators;
anyone else gets 403 (and an anonymous visitor the login page). It answers for any place of
the district: routing rules and rosters are how the district works, not private records.

Given a point (or an area code) and a category (or a description to recognise), it shows
the grid and its ancestors, every matching routing rule from the most specific down with the
chosen one marked, the unit, who is on duty now and how they rank, the thresholds, and
whether the machine would dispatch alone — and if not, why not. It runs the very
`policy.decide` that new orders go through, on an order that is not saved.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from yunbao.catalog.models import Category
from yunbao.dispatch.policy import Plan, decide
from yunbao.dispatch.routing import ANY, EXACT, GROUP, Match, category_group
from yunbao.geo.locate import OutsideDistrict, locate
from yunbao.geo.models import Area, Level
from yunbao.org.models import Role
from yunbao.org.roles import roles_of
from yunbao.workorders.models import Status, WorkOrder

# Roles that may ask where an order would go.
WHERE_ROLES = frozenset({Role.DISPATCHER, Role.MANAGER, Role.SUPERVISOR, Role.ADMIN})


class WhereForm(forms.Form):
    lat = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90)
    lon = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180)
    area = forms.CharField(label=_("Or an area code"), required=False, max_length=32)
    category = forms.ModelChoiceField(
        label=_("Category"),
        queryset=Category.objects.filter(active=True),
        to_field_name="code",
        required=False,
        empty_label=_("(recognise it from the description)"),
    )
    text = forms.CharField(label=_("Description"), required=False, max_length=500)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        code = (data.get("area") or "").strip()
        if code:
            area = Area.objects.filter(code=code).first()
            if area is None:
                self.add_error("area", _("No area has this code."))
            data["area_obj"] = area
        elif data.get("lat") is None or data.get("lon") is None:
            raise forms.ValidationError(_("Give a latitude and a longitude, or an area code."))
        return data


@login_required
def where(request: HttpRequest) -> HttpResponse:
    """Dispatchers, managers, supervisors and administrators; anyone else 403."""
    if not roles_of(request.user) & WHERE_ROLES:
        raise PermissionDenied
    form = WhereForm(request.GET if request.GET else None)
    context: dict[str, Any] = {"form": form}
    if form.is_bound and form.is_valid():
        context.update(_explain(form.cleaned_data))
    return render(request, "dispatch/where.html", context)


def _explain(data: dict[str, Any]) -> dict[str, Any]:
    area: Area | None = data.get("area_obj")
    grid: Area | None = None
    if area is not None:
        lat, lon = area.center_lat, area.center_lon
        if area.level == Level.GRID:
            grid = area
    else:
        lat, lon = data["lat"], data["lon"]
    if grid is None:
        try:
            grid = locate(lat, lon).grid
        except OutsideDistrict:
            grid = None
    # Outside every grid an order is filed under the district (as `workorders.submit` does).
    filed_under = grid or (
        area or Area.objects.filter(level=Level.DISTRICT).order_by("code").first()
    )
    category: Category | None = data.get("category")
    order = WorkOrder(
        status=Status.SUBMITTED,
        lat=lat,
        lon=lon,
        grid=grid,
        area_path=filed_under.path if filed_under is not None else "",
        category=category,
        description=data.get("text") or "",
    )
    at = timezone.now()
    plan = decide(order, at=at, detail=0)
    return {
        "asked": True,
        "at": at,
        "point": (lat, lon),
        "plan": plan,
        "ancestors": plan.area.ancestors() if plan.area is not None else [],
        "rules": [_rule_row(m, plan) for m in (plan.route.matches if plan.route else [])],
        "tie": plan.route.reasons.get("tie") if plan.route else None,
        "ranking": plan.assignment.ranking if plan.assignment else [],
        "global_threshold": float(settings.YUNBAO_AUTO_DISPATCH_THRESHOLD),
        "auto_enabled": bool(settings.YUNBAO_AUTO_DISPATCH),
        "fallbacks": plan.fallback_texts(),
        "prediction": plan.reasons.get("prediction"),
        "mismatch": plan.reasons.get("mismatch"),
        "source": plan.reasons["category"]["source"],
    }


def _rule_row(match: Match, plan: Plan) -> dict[str, Any]:
    rule = match.rule
    what: str
    if match.category_rank == EXACT:
        what = gettext("this very category")
    elif match.category_rank == GROUP:
        what = gettext("its group %(group)s") % {
            "group": category_group(plan.category) if plan.category else rule.category_group
        }
    else:
        assert match.category_rank == ANY
        what = gettext("any category")
    where = (
        gettext("%(area)s (%(level)s)")
        % {"area": rule.area.display_name, "level": rule.area.get_level_display()}
        if rule.area is not None
        else gettext("the whole district")
    )
    return {
        "rule": rule,
        "chosen": plan.route is not None and plan.route.rule == rule,
        "what": what,
        "where": where,
        "depth": match.depth,
    }
