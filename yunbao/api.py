"""The REST API under /api/v1/, with OpenAPI 3 at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from yunbao.intake.api import router as intake_router

api = NinjaAPI(
    title="Yunbao API",
    version="1",
    description="Report problems and follow them (intake). Errors: "
    '`{"detail": "...", "errors": [{"field": "...", "message": "..."}]}`.',
    urls_namespace="api",
)
api.add_router("/", intake_router)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """One error shape everywhere, also for input the schema refuses."""
    errors = [
        {"field": str(e.get("loc", ["", "?"])[-1]), "message": str(e.get("msg", ""))}
        for e in exc.errors
    ]
    return api.create_response(
        request, {"detail": errors[0]["message"] if errors else "", "errors": errors}, status=422
    )
