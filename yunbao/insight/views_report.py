"""The monthly evaluation report's page (being written)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from yunbao.insight.views import Scope, viewers_only


@viewers_only
def report(request: HttpRequest, scope: Scope) -> HttpResponse:
    return HttpResponse(status=404)
