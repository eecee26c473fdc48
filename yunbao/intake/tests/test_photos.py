"""Photo intake: what is read from an upload, what is stored, and what is refused.

Every image is generated here with Pillow (and pillow_heif for HEIC), so each test shows the
exact bytes it feeds in.
"""

from __future__ import annotations

import io
import logging
import random
import re
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, features
from PIL.TiffImagePlugin import IFDRational

from yunbao.intake.photos import PhotoError, ProcessedPhoto, process_photo, read_exif

LOGGER = "yunbao.intake.photos"


# --- Helpers ---------------------------------------------------------------------------------


def rational_dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Degrees as EXIF writes them: whole degrees, whole minutes, seconds in hundredths."""
    whole = int(degrees)
    minutes = int((degrees - whole) * 60)
    seconds = round(((degrees - whole) * 60 - minutes) * 60 * 100)
    return IFDRational(whole, 1), IFDRational(minutes, 1), IFDRational(seconds, 100)


def make_exif(
    *,
    lat: Any = None,
    lat_ref: Any = "N",
    lon: Any = None,
    lon_ref: Any = "E",
    taken: str | None = None,
    offset: str | None = None,
    orientation: int | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.BodySerialNumber] = "SERIAL-123456"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if lat is not None or lon is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        if lat_ref is not None:
            gps[ExifTags.GPS.GPSLatitudeRef] = lat_ref
        if lon_ref is not None:
            gps[ExifTags.GPS.GPSLongitudeRef] = lon_ref
        gps[ExifTags.GPS.GPSLatitude] = lat
        gps[ExifTags.GPS.GPSLongitude] = lon
    if taken is not None or offset is not None:
        details = exif.get_ifd(ExifTags.IFD.Exif)
        if taken is not None:
            details[ExifTags.Base.DateTimeOriginal] = taken
        if offset is not None:
            details[ExifTags.Base.OffsetTimeOriginal] = offset
    return exif


def encode(image: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def photo(
    size: tuple[int, int] = (400, 300), exif: Image.Exif | bytes | None = None, **params: Any
) -> bytes:
    """A JPEG with a gradient (something real to compress) and the given EXIF."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    if exif is not None:
        params["exif"] = exif if isinstance(exif, bytes) else exif.tobytes()
    return encode(image, "JPEG", **params)


def refused(data: Any, code: str, caplog: pytest.LogCaptureFixture, name: str = "x") -> PhotoError:
    """Assert `data` is refused with `code` and a log line saying so; return the error.

    Refused in English, the source language, so tests can match the messages' words."""
    caplog.clear()
    with (
        translation.override("en"),
        caplog.at_level(logging.INFO, logger=LOGGER),
        pytest.raises(PhotoError) as info,
    ):
        process_photo(data, name=name)
    assert info.value.code == code
    assert str(info.value) == info.value.message
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any(f"photo refused ({code})" in line for line in lines), lines
    return info.value


def rgb_at(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    pixel = image.convert("RGB").getpixel(xy)
    assert isinstance(pixel, tuple)
    red, green, blue = pixel
    return red, green, blue


def assert_no_metadata(content: bytes) -> None:
    stored = Image.open(io.BytesIO(content))
    assert stored.format == "JPEG"
    assert stored.mode == "RGB"
    assert len(stored.getexif()) == 0
    assert stored.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    for key in ("exif", "xmp", "icc_profile", "comment", "XML:com.adobe.xmp"):
        assert key not in stored.info
    # No APP1 (EXIF/XMP) or APP2 (ICC) segment and no comment, whatever a reader makes of it.
    assert b"Exif\x00" not in content
    assert b"http://ns.adobe.com/xap" not in content
    assert b"ICC_PROFILE" not in content
    assert b"\xff\xfe" not in content[: content.index(b"\xff\xda")]  # COM before the scan
    assert b"SERIAL-123456" not in content
    assert b"TestCam" not in content


# --- What is read and what is stored ---------------------------------------------------------


def test_it_reads_gps_and_time_and_stores_no_metadata() -> None:
    exif = make_exif(
        lat=rational_dms(31.2304),
        lon=rational_dms(121.4737),
        taken="2024:05:01 09:30:15",
        offset="+08:00",
    )
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://ns.adobe.com/xap/1.0/"/></x:xmpmeta>'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = photo(exif=exif, xmp=xmp, icc_profile=icc, comment=b"SERIAL-123456")
    assert b"Exif\x00" in data
    assert b"SERIAL-123456" in data

    result = process_photo(data, name="IMG_0001.JPG")

    assert result.lat == pytest.approx(31.2304, abs=1e-5)
    assert result.lon == pytest.approx(121.4737, abs=1e-5)
    assert result.taken_at == datetime(2024, 5, 1, 1, 30, 15, tzinfo=UTC)
    assert result.taken_at is not None
    assert result.taken_at.utcoffset() == timedelta(hours=8)
    assert result.original_format == "JPEG"
    assert (result.width, result.height) == (400, 300)
    assert_no_metadata(result.content)
    assert_no_metadata(result.thumbnail)
    assert Image.open(io.BytesIO(result.content)).size == (400, 300)


def test_it_drops_a_comment_and_xmp_from_a_photo_without_a_colour_profile() -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://ns.adobe.com/xap/1.0/"/></x:xmpmeta>'
    data = photo(exif=make_exif(orientation=1), xmp=xmp, comment=b"SERIAL-123456")
    assert Image.open(io.BytesIO(data)).info["comment"] == b"SERIAL-123456"
    assert_no_metadata(process_photo(data).content)


def test_it_ignores_corrupt_exif_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    # A TIFF header whose first directory claims 65535 entries and then ends.
    broken = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff"
    data = photo(exif=broken)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = process_photo(data)
    assert (result.lat, result.lon, result.taken_at) == (None, None, None)
    assert_no_metadata(result.content)
    assert any("Corrupt EXIF" in r.getMessage() for r in caplog.records if r.name == LOGGER)


def test_it_reads_corrupt_exif_alone_without_a_warning() -> None:
    broken = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff"
    image = Image.new("RGB", (10, 10))
    image.info["exif"] = broken
    assert read_exif(image) == (None, None, None)  # warnings are errors here: none escaped


def test_it_ignores_a_broken_colour_profile(caplog: pytest.LogCaptureFixture) -> None:
    data = photo(icc_profile=b"not a colour profile at all")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = process_photo(data)
    assert_no_metadata(result.content)
    assert any("colour profile ignored" in r.getMessage() for r in caplog.records)


def test_it_keeps_the_colours_of_an_srgb_photo_with_its_profile() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(Image.new("RGB", (64, 64), (200, 40, 90)), "JPEG", icc_profile=icc, quality=95)
    red, green, blue = rgb_at(Image.open(io.BytesIO(process_photo(data).content)), (32, 32))
    assert abs(red - 200) <= 6
    assert abs(green - 40) <= 6
    assert abs(blue - 90) <= 6


def test_it_reads_southern_and_western_positions_with_byte_refs() -> None:
    exif = make_exif(
        lat=rational_dms(33.8688), lat_ref=b"S\x00", lon=rational_dms(70.6693), lon_ref="W"
    )
    result = process_photo(photo(exif=exif))
    assert result.lat == pytest.approx(-33.8688, abs=1e-5)
    assert result.lon == pytest.approx(-70.6693, abs=1e-5)


def test_it_reads_decimal_degrees_written_as_one_rational() -> None:
    exif = make_exif(lat=(IFDRational(312304, 10000),), lon=(IFDRational(1214737, 10000),))
    lat, lon, _ = read_exif(Image.open(io.BytesIO(photo(exif=exif))))
    assert lat == pytest.approx(31.2304)
    assert lon == pytest.approx(121.4737)


def test_it_reads_positions_without_refs_as_north_and_east() -> None:
    exif = make_exif(lat=rational_dms(31.5), lat_ref=None, lon=rational_dms(121.5), lon_ref=None)
    lat, lon, _ = read_exif(Image.open(io.BytesIO(photo(exif=exif))))
    assert (lat, lon) == (pytest.approx(31.5), pytest.approx(121.5))


@pytest.mark.parametrize(
    ("lat", "lat_ref", "lon", "lon_ref"),
    [
        pytest.param(rational_dms(95), "N", rational_dms(121), "E", id="latitude-95"),
        pytest.param(rational_dms(31), "N", rational_dms(200), "E", id="longitude-200"),
        pytest.param(rational_dms(0), "N", rational_dms(0), "E", id="null-island"),
        pytest.param(rational_dms(31), "X", rational_dms(121), "E", id="bad-ref"),
        pytest.param(rational_dms(31), "E", rational_dms(121), "N", id="swapped-refs"),
        pytest.param(
            (IFDRational(31, 1), IFDRational(75, 1), IFDRational(0, 1)),
            "N",
            rational_dms(121),
            "E",
            id="75-minutes",
        ),
        pytest.param(
            (IFDRational(31, 0), IFDRational(0, 1), IFDRational(0, 1)),
            "N",
            rational_dms(121),
            "E",
            id="zero-denominator",
        ),
        pytest.param(
            (IFDRational(1, 1), IFDRational(2, 1), IFDRational(3, 1), IFDRational(4, 1)),
            "N",
            rational_dms(121),
            "E",
            id="four-parts",
        ),
    ],
)
def test_it_ignores_nonsense_gps(
    lat: Any, lat_ref: str, lon: Any, lon_ref: str, caplog: pytest.LogCaptureFixture
) -> None:
    exif = make_exif(
        lat=lat, lat_ref=lat_ref, lon=lon, lon_ref=lon_ref, taken="2024:05:01 09:30:00"
    )
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = process_photo(photo(exif=exif))
    assert (result.lat, result.lon) == (None, None)
    assert result.taken_at is not None  # the rest of the EXIF still counts
    assert any("GPS ignored" in r.getMessage() for r in caplog.records if r.name == LOGGER)


def test_it_ignores_gps_of_the_wrong_type() -> None:
    image = Image.new("RGB", (10, 10))
    exif = image.getexif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitude] = "thirty-one"
    gps[ExifTags.GPS.GPSLongitude] = (IFDRational(121, 1),)
    assert read_exif(image) == (None, None, None)


def test_it_reads_time_in_the_site_zone_without_an_offset(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Urumqi"
    result = process_photo(photo(exif=make_exif(taken="2024:02:29 23:59:59")))
    assert result.taken_at == datetime(2024, 2, 29, 23, 59, 59, tzinfo=ZoneInfo("Asia/Urumqi"))
    assert result.taken_at is not None
    assert result.taken_at.tzinfo is not None


def test_it_reads_a_negative_offset() -> None:
    result = process_photo(photo(exif=make_exif(taken="2024:05:01 09:30:00", offset="-05:30")))
    assert result.taken_at == datetime(
        2024, 5, 1, 9, 30, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )


def test_it_falls_back_to_the_site_zone_on_a_bad_offset(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = process_photo(photo(exif=make_exif(taken="2024:05:01 09:30:00", offset="+99:00")))
    assert result.taken_at == datetime(2024, 5, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert any("offset ignored" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "taken", ["    :  :     :  :  ", "0000:00:00 00:00:00", "2024:13:01 09:30:00", "yesterday"]
)
def test_it_ignores_a_blank_or_impossible_time(
    taken: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = process_photo(photo(exif=make_exif(taken=taken)))
    assert result.taken_at is None
    assert any("time ignored" in r.getMessage() for r in caplog.records)


def test_it_reads_nothing_from_a_photo_without_exif() -> None:
    result = process_photo(photo())
    assert (result.lat, result.lon, result.taken_at) == (None, None, None)


def test_it_turns_a_photo_upright_by_its_orientation() -> None:
    # Left half red, right half blue; orientation 6 means "turn 90° clockwise to view".
    image = Image.new("RGB", (400, 200), (255, 0, 0))
    image.paste((0, 0, 255), (200, 0, 400, 200))
    data = encode(image, "JPEG", exif=make_exif(orientation=6).tobytes(), quality=95)

    result = process_photo(data)

    assert (result.width, result.height) == (200, 400)
    stored = Image.open(io.BytesIO(result.content))
    assert stored.size == (200, 400)
    red, _, blue = rgb_at(stored, (100, 50))
    assert red > 200
    assert blue < 60
    red, _, blue = rgb_at(stored, (100, 350))
    assert blue > 200
    assert red < 60
    assert_no_metadata(result.content)


def test_it_scales_a_large_photo_to_the_longest_side(settings: Any) -> None:
    settings.YUNBAO_PHOTO_MAX_SIDE = 500
    result = process_photo(photo(size=(1600, 1200)))
    assert (result.width, result.height) == (500, 375)
    assert Image.open(io.BytesIO(result.content)).size == (500, 375)


def test_it_scales_a_tall_photo_by_its_height(settings: Any) -> None:
    settings.YUNBAO_PHOTO_MAX_SIDE = 500
    result = process_photo(encode(Image.new("RGB", (300, 1000), "green"), "PNG"))
    assert (result.width, result.height) == (150, 500)


def test_it_never_enlarges_a_small_photo() -> None:
    result = process_photo(photo(size=(120, 80)))
    assert (result.width, result.height) == (120, 80)


def test_it_makes_a_thumbnail_of_at_most_320_pixels() -> None:
    result = process_photo(photo(size=(1000, 750)))
    thumbnail = Image.open(io.BytesIO(result.thumbnail))
    assert thumbnail.format == "JPEG"
    assert thumbnail.size == (320, 240)
    small = Image.open(io.BytesIO(process_photo(photo(size=(100, 50))).thumbnail))
    assert small.size == (100, 50)


def test_it_gives_each_photo_a_fresh_safe_name() -> None:
    first = process_photo(photo(), name="../../etc/passwd.jpg")
    second = process_photo(photo(), name="../../etc/passwd.jpg")
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", first.filename)
    assert first.filename != second.filename
    assert first.thumbnail_filename == first.filename.removesuffix(".jpg") + "_thumb.jpg"


def test_it_reads_from_a_stream() -> None:
    result = process_photo(io.BytesIO(photo()))
    assert isinstance(result, ProcessedPhoto)
    assert result.width == 400


def test_it_reads_a_django_upload() -> None:
    upload = SimpleUploadedFile("IMG_0003.JPG", photo(), content_type="image/jpeg")
    assert process_photo(upload, name=upload.name or "").width == 400


# --- Other formats ---------------------------------------------------------------------------


def test_it_puts_a_transparent_png_on_white() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))  # transparent *black*
    image.paste((255, 0, 0, 255), (0, 0, 50, 100))
    result = process_photo(encode(image, "PNG"))
    stored = Image.open(io.BytesIO(result.content))
    assert result.original_format == "PNG"
    assert stored.format == "JPEG"
    assert stored.mode == "RGB"
    assert min(rgb_at(stored, (90, 50))) > 240
    red, green, _ = rgb_at(stored, (10, 50))
    assert red > 240
    assert green < 20


def test_it_puts_a_palette_png_with_a_transparent_colour_on_white() -> None:
    image = Image.new("P", (60, 60), 0)
    image.putpalette([0, 0, 0, 0, 128, 0])
    image.paste(1, (0, 0, 30, 60))
    result = process_photo(encode(image, "PNG", transparency=0))
    stored = Image.open(io.BytesIO(result.content))
    assert min(rgb_at(stored, (50, 30))) > 240


def test_it_keeps_the_tones_of_a_16_bit_grey_png() -> None:
    result = process_photo(encode(Image.new("I;16", (40, 40), 32768), "PNG"))
    grey = rgb_at(Image.open(io.BytesIO(result.content)), (20, 20))
    assert all(120 <= value <= 136 for value in grey)


def test_it_accepts_heic_from_an_iphone() -> None:
    exif = make_exif(lat=rational_dms(31.2304), lon=rational_dms(121.4737))
    data = encode(Image.new("RGB", (640, 480), (10, 120, 200)), "HEIF", exif=exif.tobytes())
    assert data[4:12] == b"ftypheic"

    result = process_photo(data, name="IMG_0002.HEIC")

    assert result.original_format == "HEIF"
    assert (result.width, result.height) == (640, 480)
    assert result.lat == pytest.approx(31.2304, abs=1e-5)
    assert_no_metadata(result.content)


def test_it_accepts_webp() -> None:
    result = process_photo(encode(Image.new("RGB", (64, 48), "orange"), "WEBP"))
    assert result.original_format == "WEBP"
    assert (result.width, result.height) == (64, 48)


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF codec")
def test_it_accepts_avif() -> None:
    result = process_photo(encode(Image.new("RGB", (64, 48), "teal"), "AVIF"))
    assert result.original_format == "AVIF"
    assert (result.width, result.height) == (64, 48)


def test_it_keeps_a_photo_sideways_when_its_orientation_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(image: Image.Image) -> Image.Image:
        raise OSError("bad orientation data")

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = process_photo(photo(size=(400, 200), exif=make_exif(orientation=6)))
    assert (result.width, result.height) == (400, 200)
    assert any("orientation ignored" in r.getMessage() for r in caplog.records)


def test_it_calls_a_multi_picture_jpeg_a_jpeg() -> None:
    frames = [Image.new("RGB", (80, 60), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert process_photo(data).original_format == "JPEG"


def test_it_keeps_the_first_frame_of_an_animated_gif() -> None:
    frames = [Image.new("RGB", (50, 50), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    result = process_photo(data)
    assert result.original_format == "GIF"
    red, _, blue = rgb_at(Image.open(io.BytesIO(result.content)), (25, 25))
    assert red > 200
    assert blue < 60


# --- Refused files ---------------------------------------------------------------------------


def test_it_refuses_zero_bytes(caplog: pytest.LogCaptureFixture) -> None:
    error = refused(b"", "empty", caplog)
    assert error.message == "This photo is empty. Please choose it again."
    refused(io.BytesIO(b""), "empty", caplog)


def test_it_refuses_too_many_bytes(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    data = photo(size=(400, 300))
    settings.YUNBAO_PHOTO_MAX_BYTES = len(data) - 1
    error = refused(data, "too_large", caplog)
    assert "Please choose a smaller photo" in error.message
    settings.YUNBAO_PHOTO_MAX_BYTES = len(data)
    assert process_photo(data).width == 400  # exactly the limit is fine


class EndlessStream(io.RawIOBase):
    """A hostile upload that never ends; counts what was read from it."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), 4096)  # short reads, as a socket gives
        buffer[:size] = b"\xff" * size
        self.served += size
        return size


def test_it_reads_no_more_than_the_limit_from_a_stream(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.YUNBAO_PHOTO_MAX_BYTES = 100_000
    stream = EndlessStream()
    refused(stream, "too_large", caplog)
    assert stream.served == 100_001


def test_it_refuses_a_pdf_named_jpg(caplog: pytest.LogCaptureFixture) -> None:
    pdf = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    error = refused(pdf, "not_image", caplog, name="photo.jpg")
    assert error.message == "This file is not a photo. Please choose a JPEG, PNG or HEIC image."
    assert "photo.jpg" in caplog.records[-1].getMessage()


def test_it_refuses_a_shell_script(caplog: pytest.LogCaptureFixture) -> None:
    refused(b"#!/bin/sh\nrm -rf / --no-preserve-root\n", "not_image", caplog, name="a.heic")


def test_it_refuses_random_bytes(caplog: pytest.LogCaptureFixture) -> None:
    refused(random.Random(7).randbytes(20_000), "not_image", caplog)


def test_it_refuses_a_truncated_jpeg(caplog: pytest.LogCaptureFixture) -> None:
    data = photo(size=(800, 600))
    error = refused(data[: len(data) // 2], "corrupt", caplog)
    assert error.message == "This photo is damaged or incomplete. Please take or choose it again."


def test_it_refuses_a_jpeg_cut_off_in_its_header(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PhotoError) as info:
        process_photo(photo()[:200])
    assert info.value.code in {"corrupt", "not_image"}
    refused(photo()[:200], info.value.code, caplog)


def test_it_refuses_a_png_with_a_bad_checksum(caplog: pytest.LogCaptureFixture) -> None:
    data = bytearray(encode(Image.new("RGB", (40, 40), "red"), "PNG"))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # the first byte of the IDAT chunk's CRC
    refused(bytes(data), "corrupt", caplog)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("ICO", {}), ("BMP", {}), ("TIFF", {}), ("PPM", {}), ("TGA", {})],
)
def test_it_refuses_real_images_of_other_kinds(
    fmt: str, params: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    data = encode(Image.new("RGB", (32, 32), "red"), fmt, **params)
    error = refused(data, "unsupported", caplog, name=f"x.{fmt.lower()}")
    assert fmt in error.message


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make any pixel decoding fail the test; return the list of attempts."""
    attempts: list[str] = []

    def load(self: ImageFile.ImageFile) -> Any:
        attempts.append(f"{self.format} {self.size}")
        # Fail at once: decoding a bomb is what the test must never see happen.
        raise AssertionError(f"decoded {self.format} {self.size}")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return attempts


def bomb_png(width: int, height: int) -> bytes:
    """A valid bi-level PNG of the given size whose pixels are all zero: tiny on disk."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(30_000, 30_000, id="over-twice-pillows-limit"),  # Pillow raises
        pytest.param(10_000, 10_000, id="in-pillows-warning-band"),  # Pillow only warns
        pytest.param(10_000, 8_500, id="over-ours-only"),  # 85 MP: ours refuses (80 MP)
    ],
)
def test_it_refuses_a_decompression_bomb_without_decoding_it(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = bomb_png(width, height)
    assert len(data) < 150_000
    attempts = forbid_decoding(monkeypatch)
    error = refused(data, "too_many_pixels", caplog)
    assert attempts == []
    assert "80 megapixels" in error.message
    assert any(r.levelno == logging.WARNING for r in caplog.records if r.name == LOGGER)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_it_refuses_past_pillows_limit_even_where_its_warning_is_ignored(
    settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Production does not turn warnings into errors; Pillow's limit (89 MP, only a warning
    # up to twice that) must still refuse, even when our own setting would allow more.
    settings.YUNBAO_PHOTO_MAX_PIXELS = 200_000_000
    attempts = forbid_decoding(monkeypatch)
    refused(bomb_png(10_000, 10_000), "too_many_pixels", caplog)
    assert attempts == []


def test_it_refuses_an_image_over_a_lowered_pixel_limit(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.YUNBAO_PHOTO_MAX_PIXELS = 10_000
    assert process_photo(photo(size=(100, 100))).width == 100
    error = refused(photo(size=(101, 100)), "too_many_pixels", caplog)
    assert "0.01 megapixels" in error.message


def test_it_logs_the_client_name_escaped(caplog: pytest.LogCaptureFixture) -> None:
    refused(b"", "empty", caplog, name="evil\nphoto refused (fake)")
    line = caplog.records[-1].getMessage()
    assert "\n" not in line
    assert "'evil\\nphoto refused (fake)'" in line


def test_it_only_knows_its_own_error_codes() -> None:
    assert issubclass(PhotoError, ValueError)
    with pytest.raises(ValueError, match="unknown photo error code"):
        PhotoError("bad", "message")
