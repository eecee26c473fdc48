"""Photos from reporters: checked, cleaned and shrunk before anything is stored.

`process_photo` takes the bytes a phone uploaded and returns a `ProcessedPhoto`: a JPEG
that is upright (EXIF orientation applied), at most `settings.YUNBAO_PHOTO_MAX_SIDE` pixels
on its longest side, plain sRGB and free of every piece of metadata (EXIF with its GPS
position and camera serial numbers, XMP, ICC profile, JPEG comments), a 320-pixel
thumbnail, and what the EXIF said about where and when the photo was taken
(`read_exif`), which the intake action may use as a location hint and to flag old photos.

Uploads are untrusted, so the checks run cheapest and safest first and each refusal is a
`PhotoError` whose `code` says why and whose message the reporter can act on:

1. `empty`: no bytes at all;
2. `too_large`: more than `settings.YUNBAO_PHOTO_MAX_BYTES` (at most that many bytes plus
   one are read from a stream, never the whole of a hostile one);
3. `not_image`: Pillow does not recognise the header (a PDF, a script, random bytes);
4. `unsupported`: a real image of a kind phones do not send (ICO, BMP, TIFF, PSD…);
5. `too_many_pixels`: width × height from the header exceeds
   `settings.YUNBAO_PHOTO_MAX_PIXELS`, decided before any pixel is decoded, so a
   decompression bomb costs a header parse only;
6. `corrupt`: the file is recognised but broken (a bad checksum found by `verify()`, or
   truncated data found when decoding).

The format is checked before `verify()`, not after: verifying a file we refuse anyway only
costs time. Pillow's own decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`, 89 million
pixels by default, an error from twice that) stays in force and is reported as
`too_many_pixels` too, so it caps `YUNBAO_PHOTO_MAX_PIXELS` at Pillow's limit.

EXIF positions are taken as WGS-84, which is what phone cameras write; conversion to the
maps' GCJ-02 is `yunbao.geo.coords`' business.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Final
from zoneinfo import ZoneInfo

import pillow_heif
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "THUMBNAIL_SIDE",
    "PhotoError",
    "ProcessedPhoto",
    "process_photo",
    "read_exif",
]

logger = logging.getLogger(__name__)

# iPhones send HEIC; registering once makes Image.open recognise it as format "HEIF".
pillow_heif.register_heif_opener()

THUMBNAIL_SIDE: Final = 320
JPEG_QUALITY: Final = 85
THUMBNAIL_QUALITY: Final = 80

# Pillow's format name → the name we report. MPO is how Pillow names the JPEGs many phones
# write (a JPEG with extra preview frames appended); to people it is a JPEG.
_ALLOWED_FORMATS: Final = {
    "JPEG": "JPEG",
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WEBP",
    "HEIF": "HEIF",
    "AVIF": "AVIF",
    "GIF": "GIF",
}

# What Pillow and its plugins raise on a hostile or broken file while reading or decoding
# it. Our own code stays outside these `try` blocks so a bug of ours is not called corrupt.
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)

# `warnings.catch_warnings` swaps the process-wide filter list and is not thread-safe: two
# threads interleaving could leave our filters installed. The lock keeps our own callers
# from interleaving. It is held while Pillow reads and decodes (not while we scale and
# encode), which serialises decoding in a threaded server; gunicorn's sync workers are
# single-threaded, so there it costs nothing. (A warning another thread raises meanwhile is
# logged by us rather than shown; harmless.)
_WARNINGS_LOCK = threading.RLock()  # re-entrant: read_exif guards itself, inside ours too

_EXIF_DATETIME = re.compile(r"^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class PhotoError(ValueError):
    """An upload refused as a photo; `code` says why, the message tells the reporter."""

    CODES: Final = frozenset(
        {"empty", "too_large", "not_image", "too_many_pixels", "unsupported", "corrupt"}
    )

    def __init__(self, code: str, message: str) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown photo error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo ready to store: cleaned JPEG, thumbnail and what its EXIF said."""

    content: bytes
    thumbnail: bytes
    width: int
    height: int
    lat: float | None
    lon: float | None
    taken_at: datetime | None
    original_format: str
    filename: str

    @property
    def thumbnail_filename(self) -> str:
        """A name for the thumbnail beside the photo: `<hex>_thumb.jpg`."""
        return self.filename.removesuffix(".jpg") + "_thumb.jpg"


# --- The pipeline ---------------------------------------------------------------------------


def process_photo(data: bytes | IO[bytes], *, name: str = "") -> ProcessedPhoto:
    """Check, clean and shrink one uploaded photo; raise `PhotoError` if it is refused.

    `data` is the upload's bytes or a binary stream, read from its current position. `name`
    is the client's file name, used in log lines only: the stored name is always generated.
    """
    max_bytes: int = settings.YUNBAO_PHOTO_MAX_BYTES
    raw = _read_limited(data, max_bytes)
    if not raw:
        raise _refuse(
            "empty", name, 0, "no bytes", _("This photo is empty. Please choose it again.")
        )
    if len(raw) > max_bytes:
        raise _refuse(
            "too_large",
            name,
            len(raw),
            f"more than {max_bytes} bytes",
            _("This photo is larger than %(limit)s. Please choose a smaller photo.")
            % {"limit": filesizeformat(max_bytes)},
        )

    max_side: int = settings.YUNBAO_PHOTO_MAX_SIDE
    with _pillow_warnings(name):
        original_format = _check(raw, name)
        # verify() leaves its image unusable; decoding needs a fresh one.
        image = _open(raw, name)
        try:
            _draft(image, max_side)
            try:
                image.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                # A GIF frame larger than its header said; Pillow checks it when decoding.
                raise _too_many_pixels(name, len(raw), str(exc)) from exc
            except _DECODE_ERRORS as exc:
                raise _corrupt(name, len(raw), exc) from exc
            lat, lon, taken_at = read_exif(image)
            upright = _upright(image)
        finally:
            image.close()

    clean = _clean_rgb(upright)
    clean.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    thumbnail = clean.copy()
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return ProcessedPhoto(
        content=_jpeg(clean, JPEG_QUALITY),
        thumbnail=_jpeg(thumbnail, THUMBNAIL_QUALITY),
        width=clean.width,
        height=clean.height,
        lat=lat,
        lon=lon,
        taken_at=taken_at,
        original_format=original_format,
        filename=f"{uuid.uuid4().hex}.jpg",
    )


def _read_limited(data: bytes | IO[bytes], max_bytes: int) -> bytes:
    """The upload's bytes, but never more than `max_bytes + 1` of them from a stream."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    chunks: list[bytes] = []
    remaining = max_bytes + 1
    # A loop, because a raw stream may return fewer bytes than asked before its end.
    while remaining > 0:
        chunk = data.read(min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


@contextmanager
def _pillow_warnings(name: str) -> Iterator[None]:
    """Pillow's warnings while reading an upload: bombs raised, the rest logged.

    Pillow only *warns* of a decompression bomb between MAX_IMAGE_PIXELS and twice that;
    it becomes an exception here, whatever the process's warning filters, so it is refused.
    Pillow also warns of what it skips in broken metadata ("Corrupt EXIF data"), which we
    drop anyway: one log line each, instead of noise on stderr (or an exception under
    `-W error`, as in the tests).
    """
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        finally:
            for warning in caught:
                logger.info("photo %r: Pillow warned: %s", name[:200], warning.message)


def _open(raw: bytes, name: str) -> ImageFile.ImageFile:
    """Identify the file from its header (no pixels decoded) or refuse it."""
    try:
        return Image.open(io.BytesIO(raw))
    except UnidentifiedImageError as exc:
        raise _refuse(
            "not_image",
            name,
            len(raw),
            f"unidentified ({raw[:8]!r})",
            _("This file is not a photo. Please choose a JPEG, PNG or HEIC image."),
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(name, len(raw), str(exc)) from exc
    except _DECODE_ERRORS as exc:
        # A known format whose header breaks off or makes no sense (a truncated JPEG).
        raise _corrupt(name, len(raw), exc) from exc


def _check(raw: bytes, name: str) -> str:
    """The reported format of a whole, allowed, small enough image; refuse any other."""
    header = _open(raw, name)
    try:
        original_format = _check_header(header, raw, name)
        try:
            # Checks what can be checked without decoding: PNG chunk checksums, for one.
            header.verify()
        except _DECODE_ERRORS as exc:
            raise _corrupt(name, len(raw), exc) from exc
    finally:
        header.close()
    return original_format


def _check_header(image: ImageFile.ImageFile, raw: bytes, name: str) -> str:
    """The reported format of an allowed, small enough image; refuse any other."""
    fmt = image.format or ""
    if fmt not in _ALLOWED_FORMATS:
        raise _refuse(
            "unsupported",
            name,
            len(raw),
            f"format {fmt!r}",
            _(
                "This kind of image (%(format)s) is not accepted. "
                "Please choose a JPEG, PNG or HEIC image."
            )
            % {"format": fmt or "?"},
        )
    width, height = image.size
    if width * height > settings.YUNBAO_PHOTO_MAX_PIXELS:
        raise _too_many_pixels(name, len(raw), f"{width}x{height}")
    return _ALLOWED_FORMATS[fmt]


def _draft(image: ImageFile.ImageFile, max_side: int) -> None:
    # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale directly, which saves most of the time
    # and memory for a large phone photo. draft() never goes below the size asked,
    # so the scaled-down result is still at least the stored size on both sides.
    width, height = image.size
    ratio = max_side / max(width, height)
    if image.format in ("JPEG", "MPO") and ratio < 1:
        image.draft("RGB", (math.ceil(width * ratio), math.ceil(height * ratio)))


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; as it is if that tag is unreadable."""
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS as exc:
        logger.info("photo orientation ignored, unreadable EXIF: %s", exc)
        return image.copy()


def _clean_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy in sRGB, transparency on white, carrying no metadata whatsoever."""
    image = _to_srgb(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greyscale (PNG); convert("RGB") would clip nearly everything to white.
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        # Transparent pixels hold arbitrary colours (often black); white is what a viewer
        # showed the reporter.
        rgb = Image.new("RGB", rgba.size, (255, 255, 255))
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = image.convert("RGB")
    # A fresh image has an empty `info`: Pillow's JPEG writer copies a comment from `info`,
    # and nothing else of the original (EXIF, XMP, ICC) may reach the stored file.
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    return clean


def _to_srgb(image: Image.Image) -> Image.Image:
    # Phones shoot in Display P3 and say so in an ICC profile; the profile is dropped from
    # the stored file, so convert the colours now or they would look washed out.
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image
    output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=output_mode)
    except (ImageCms.PyCMSError, *_DECODE_ERRORS) as exc:
        logger.info("photo colour profile ignored: %s", exc)
        return image
    assert converted is not None  # only None with inPlace=True
    return converted


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # No exif=, icc_profile=, xmp= or comment=: the stored file carries pixels only.
    image.save(buffer, format="JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


# --- Refusals -------------------------------------------------------------------------------


def _refuse(code: str, name: str, size: int, detail: str, message: str) -> PhotoError:
    # %r: the client's file name is untrusted text and must not forge log lines.
    level = logging.WARNING if code == "too_many_pixels" else logging.INFO
    logger.log(level, "photo refused (%s): %s; name=%r bytes=%d", code, detail, name[:200], size)
    return PhotoError(code, message)


def _too_many_pixels(name: str, size: int, detail: str) -> PhotoError:
    megapixels = settings.YUNBAO_PHOTO_MAX_PIXELS / 1_000_000
    return _refuse(
        "too_many_pixels",
        name,
        size,
        detail,
        _("This image has too many pixels. Please choose a photo of at most %(limit)s megapixels.")
        % {"limit": f"{megapixels:g}"},
    )


def _corrupt(name: str, size: int, exc: BaseException) -> PhotoError:
    return _refuse(
        "corrupt",
        name,
        size,
        f"{type(exc).__name__}: {exc}",
        _("This photo is damaged or incomplete. Please take or choose it again."),
    )


# --- EXIF -----------------------------------------------------------------------------------


def read_exif(image: Image.Image) -> tuple[float | None, float | None, datetime | None]:
    """Where (WGS-84 latitude, longitude) and when (aware) the photo says it was taken.

    Each part is None when absent or nonsense. EXIF is an untrusted hint: nothing in it
    ever makes this raise.
    """
    try:
        with _pillow_warnings(""):
            exif = image.getexif()
            gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
            details = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception as exc:
        # Any exception at all: a malformed EXIF block means "no hint", never a refusal.
        logger.info("photo EXIF unreadable: %s: %s", type(exc).__name__, exc)
        return None, None, None
    lat, lon = _gps_position(gps)
    taken = details.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTimeOriginal)
    offset = details.get(ExifTags.Base.OffsetTimeOriginal)
    return lat, lon, _taken_at(taken, offset)


def _gps_position(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    if ExifTags.GPS.GPSLatitude not in gps or ExifTags.GPS.GPSLongitude not in gps:
        return None, None
    lat = _signed(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "NS")
    lon = _signed(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "EW")
    if lat is None or lon is None:
        logger.info("photo GPS ignored, unreadable: lat=%r lon=%r", lat, lon)
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        logger.info("photo GPS ignored, out of range: %s, %s", lat, lon)
        return None, None
    if lat == 0 and lon == 0:
        # "Null island": what a camera writes when it had no fix.
        logger.info("photo GPS ignored: 0, 0")
        return None, None
    return lat, lon


def _signed(value: Any, ref: Any, refs: str) -> float | None:
    """Degrees from EXIF (degrees, minutes, seconds as rationals) with the sign of `ref`."""
    degrees = _degrees(value)
    if degrees is None:
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = (ref or "").strip("\x00 ").upper()
    if ref == "":
        # No reference written: read as north/east, the usual convention of EXIF readers.
        return degrees
    if ref == refs[0]:
        return degrees
    if ref == refs[1]:
        return -degrees
    return None


def _degrees(value: Any) -> float | None:
    parts = value if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    try:
        # IFDRational with a zero denominator is NaN, caught by the finiteness test.
        numbers = [float(part) for part in parts]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if any(not math.isfinite(n) or n < 0 for n in numbers):
        return None
    degrees, minutes, seconds = (*numbers, 0.0, 0.0)[:3]
    if minutes >= 60 or seconds >= 60:
        return None
    return degrees + minutes / 60 + seconds / 3600


def _taken_at(value: Any, offset: Any) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATETIME.match(value.strip("\x00 "))
    if match is None:
        # Cameras without a set clock write blanks or "0000:00:00 00:00:00".
        logger.info("photo time ignored: %r", value[:40])
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        logger.info("photo time ignored: %r", value[:40])
        return None
    return naive.replace(tzinfo=_exif_zone(offset))


def _exif_zone(offset: Any) -> timezone | ZoneInfo:
    """The zone of OffsetTimeOriginal ("+08:00"), or the site's zone without one."""
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "replace")
    if isinstance(offset, str):
        match = _EXIF_OFFSET.match(offset.strip("\x00 "))
        if match is not None:
            sign, hours, minutes = match.groups()
            delta = timedelta(hours=int(hours), minutes=int(minutes))
            if delta <= timedelta(hours=14) and int(minutes) < 60:
                return timezone(-delta if sign == "-" else delta)
        logger.info("photo time offset ignored: %r", offset[:20])
    return ZoneInfo(settings.TIME_ZONE)
