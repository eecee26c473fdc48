"""After-photos from a worker's phone, through intake's photo pipeline.

The same checks as a resident's photo (a real image of an allowed kind, within the byte and
pixel limits, EXIF stripped, upright, shrunk, with a thumbnail; HEIC from iPhones), so
`intake.photos.process_photo` does the work; the stored files become `PhotoInput`s that
`workorders.actions.finish` attaches inside its transaction. Files are written before the
move (never while the database's write lock is held) and removed again if the move fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.intake.photos import PhotoError, process_photo
from yunbao.workorders.actions import PhotoInput

log = logging.getLogger(__name__)


class PhotoRefused(ValueError):
    """An upload that is not an acceptable photo; the message tells the worker why."""


def store_photos(uploads: Iterable[tuple[str, IO[bytes]]]) -> list[PhotoInput]:
    """Check, clean and store each `(name, stream)`; all or nothing."""
    uploads = list(uploads)
    if len(uploads) > settings.YUNBAO_REPORT_MAX_PHOTOS:
        raise PhotoRefused(_("At most %(n)d photos.") % {"n": settings.YUNBAO_REPORT_MAX_PHOTOS})
    processed = []
    for name, stream in uploads:
        try:
            processed.append(process_photo(stream, name=name))
        except PhotoError as exc:
            log.info("after-photo %r refused: %s", name, exc.code)
            raise PhotoRefused(str(exc)) from exc
    stored: list[PhotoInput] = []
    month = timezone.now().strftime("%Y/%m")
    for photo in processed:
        image = default_storage.save(f"photos/{month}/{photo.filename}", ContentFile(photo.content))
        thumb = default_storage.save(
            f"photos/{month}/{photo.thumbnail_filename}", ContentFile(photo.thumbnail)
        )
        stored.append(
            PhotoInput(
                image=image,
                thumbnail=thumb,
                width=photo.width,
                height=photo.height,
                taken_at=photo.taken_at,
                lat=photo.lat,
                lon=photo.lon,
            )
        )
    return stored


def delete_photos(photos: Iterable[PhotoInput]) -> None:
    """Remove the files of photos whose move did not happen."""
    for photo in photos:
        for name in (photo.image, photo.thumbnail):
            if name:
                default_storage.delete(name)
