"""Processed photos through the configured storage: S3 (moto's in-process S3) and local files.

`STORAGES["default"]` comes from STORAGE_BACKEND. Changing `STORAGES` or `MEDIA_ROOT` with
the `settings` fixture makes Django drop its cached backends, so `storages["default"]` is
built afresh from the overridden settings in each test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from moto import mock_aws
from PIL import ExifTags, Image

from yunbao import conf
from yunbao.intake.photos import ProcessedPhoto, process_photo

BUCKET = "yunbao-photos-test"


def gps_photo() -> ProcessedPhoto:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 14.0, 0.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (121.0, 28.0, 0.0)
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (90, 160, 40)).save(buffer, "JPEG", exif=exif.tobytes())
    processed = process_photo(buffer.getvalue(), name="street.jpg")
    assert processed.lat is not None  # the upload did carry a position
    return processed


def assert_clean_jpeg(content: bytes) -> None:
    stored = Image.open(io.BytesIO(content))
    assert stored.format == "JPEG"
    assert stored.size == (300, 200)
    assert len(stored.getexif()) == 0
    assert b"Exif\x00" not in content
    assert b"TestCam" not in content


@pytest.fixture
def s3(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Fake credentials in the environment too, so nothing can fall back to real ones.
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_S3_SIGNATURE_VERSION"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {"BACKEND": "storages.backends.s3.S3Storage"},
        }
        settings.AWS_STORAGE_BUCKET_NAME = BUCKET
        settings.AWS_S3_REGION_NAME = "us-east-1"
        settings.AWS_S3_ENDPOINT_URL = None
        settings.AWS_ACCESS_KEY_ID = "testing"
        settings.AWS_SECRET_ACCESS_KEY = "testing"
        yield client


def test_it_stores_a_photo_in_s3_without_metadata_behind_a_signed_url(s3: Any) -> None:
    processed = gps_photo()
    storage = storages["default"]
    assert type(storage).__name__ == "S3Storage"

    name = storage.save(f"photos/1/{processed.filename}", ContentFile(processed.content))

    assert name == f"photos/1/{processed.filename}"
    body = s3.get_object(Bucket=BUCKET, Key=name)["Body"].read()
    assert body == processed.content
    with storage.open(name, "rb") as stored:
        assert_clean_jpeg(stored.read())
    assert storage.exists(name)
    url = storage.url(name)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path.endswith(f"/{processed.filename}")
    assert BUCKET in url
    # Signed and expiring, whichever signature version botocore picked.
    assert {"Signature", "X-Amz-Signature"} & query.keys()
    assert {"Expires", "X-Amz-Expires"} & query.keys()


def test_it_signs_s3_urls_with_signature_version_4(s3: Any) -> None:
    processed = gps_photo()
    name = storages["default"].save(f"photos/4/{processed.filename}", ContentFile(b"x"))
    query = parse_qs(urlsplit(storages["default"].url(name)).query)
    assert "X-Amz-Signature" in query
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


def test_it_keeps_s3_photos_private(s3: Any) -> None:
    processed = gps_photo()
    name = storages["default"].save(
        f"photos/2/{processed.filename}", ContentFile(processed.content)
    )
    grants = s3.get_object_acl(Bucket=BUCKET, Key=name)["Grants"]
    # Only the owner: no AllUsers / AuthenticatedUsers grant was added by the storage.
    assert all("URI" not in grant["Grantee"] for grant in grants)


def test_it_stores_a_photo_under_media_root_by_default(settings: Any, tmp_path: Path) -> None:
    default_backend = conf.BY_NAME["STORAGE_BACKEND"].read({})  # the default, not the env
    assert default_backend == "django.core.files.storage.FileSystemStorage"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": default_backend}}
    settings.MEDIA_ROOT = tmp_path / "media"
    processed = gps_photo()
    storage = storages["default"]
    assert isinstance(storage, FileSystemStorage)

    name = storage.save(f"photos/3/{processed.filename}", ContentFile(processed.content))
    thumb = storage.save(
        f"photos/3/{processed.thumbnail_filename}", ContentFile(processed.thumbnail)
    )

    path = tmp_path / "media" / "photos" / "3" / processed.filename
    assert Path(storage.path(name)) == path
    assert path.read_bytes() == processed.content
    assert (tmp_path / "media" / thumb).is_file()
    assert_clean_jpeg(path.read_bytes())
    assert storage.url(name) == f"/media/photos/3/{processed.filename}"
