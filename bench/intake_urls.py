"""URLs for the intake benchmark: Yunbao's own plus `/bench/bare`, the baseline view."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel, ValidationError


class BareIn(BaseModel):
    lat: float
    lon: float
    description: str = ""


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    """Validate the same fields and insert one row: the cost of any Django endpoint."""
    try:
        data = BareIn.model_validate_json(request.body)
    except ValidationError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_bare (lat, lon, description, created) VALUES (%s, %s, %s, %s)",
            [data.lat, data.lon, data.description, datetime.now(UTC).isoformat()],
        )
    return JsonResponse({"ok": True}, status=201)


urlpatterns = [path("bench/bare", bare), path("", include("yunbao.urls"))]
