"""Photos of an order: list them, and upload after-photos ahead of the finish.

A worker on a poor network may send the proof first and the finish later: photos uploaded
here wait on the order, tied to no move, and `finish` takes them as its proof (the same as
on the field pages). Only who may finish the order now may upload: the assigned worker,
while it is in progress. Every file goes through intake's photo pipeline (a real image of
an allowed kind, within the byte and pixel limits, EXIF stripped, upright, thumbnail).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Router
from ninja.files import UploadedFile
from ninja.responses import Status

from yunbao.api.auth import AUTH, caller
from yunbao.api.errors import ApiError, responses
from yunbao.api.routes.moves import may_make
from yunbao.api.routes.orders import Number, photo_out, visible_order
from yunbao.api.schemas import PhotoOut
from yunbao.field.photos import PhotoRefused, delete_photos, store_photos
from yunbao.workorders import actions as verbs
from yunbao.workorders.actions import PhotoInput, allowed_actions
from yunbao.workorders.models import PhotoKind

log = logging.getLogger(__name__)
router = Router(tags=["photos"], auth=AUTH)


@router.get(
    "/orders/{number}/photos",
    response=responses(list[PhotoOut], 401, 404, 422, 429),
    summary="Photos of an order (before and after)",
)
def list_photos(request: HttpRequest, number: str = Number) -> list[PhotoOut]:
    order = visible_order(request, number)
    return [photo_out(request, p) for p in order.photos.order_by("created_at", "id")]


@router.post(
    "/orders/{number}/photos",
    response=responses(list[PhotoOut], 401, 403, 404, 409, 422, 429, ok_status=201),
    summary="Upload after-photos before finishing",
    description="Multipart form with 1 to REPORT_MAX_PHOTOS files in `photos`.",
)
def upload_photos(
    request: HttpRequest, photos: File[list[UploadedFile]], number: str = Number
) -> Status[list[PhotoOut]]:
    order = visible_order(request, number)
    user = caller(request)
    if not any(t.action == "finish" for t in allowed_actions(order, user)):
        status = 409 if may_make(order, "finish", user) else 403
        log.info("API photo upload on %s by %s refused (%d)", order.number, user, status)
        raise ApiError(
            status,
            _("Only the assigned worker uploads after-photos, while the order is in progress."),
        )
    uploads = list(photos or [])
    if not uploads:
        raise ApiError(422, _("Send at least one photo."), field="photos")
    stored: list[PhotoInput] = []
    try:
        stored = store_photos((f.name or "photo.jpg", f) for f in uploads)
        with transaction.atomic():
            saved = [
                verbs.add_photo(
                    order,
                    actor=user,
                    kind=PhotoKind.AFTER,
                    image=p.image,
                    thumbnail=p.thumbnail or None,
                    width=p.width,
                    height=p.height,
                    taken_at=p.taken_at,
                    lat=p.lat,
                    lon=p.lon,
                )
                for p in stored
            ]
    except PhotoRefused as exc:
        delete_photos(stored)
        raise ApiError(422, str(exc), field="photos") from exc
    except BaseException:
        delete_photos(stored)
        raise
    log.info("API: %d after-photos uploaded to %s by %s", len(saved), order.number, user)
    return Status(201, [photo_out(request, p) for p in saved])
