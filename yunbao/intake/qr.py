"""QR codes and printable "scan to report" posters for an area or a unit's patrol area.

A poster's QR code opens the report page bound to one place (`/report/?area=CODE` or
`?unit=CODE`), so a villager whose phone has no GPS fix still reports in the right area.

Poster text is Chinese whatever the language of the person printing it: posters hang on
village walls for residents, not for the staff member who prints them. The instructions
are therefore data in this module (`POSTER_LEAD`, `POSTER_HINT`, `POSTER_BRAND`), not
translatable messages, and titles use the areas' and units' Chinese `name`.

Posters are drawn with Pillow and need a CJK font from the system (Debian's
fonts-noto-cjk, installed by `make browser`); without one they fall back to Pillow's default
font, which has no Chinese glyphs, and a warning is logged.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlencode, urljoin

import qrcode
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from PIL import Image, ImageDraw, ImageFont
from qrcode.image.pil import PilImage

if TYPE_CHECKING:
    from yunbao.geo.models import Area
    from yunbao.org.models import Unit

log = logging.getLogger(__name__)

# The report page is built by another change; until its URL name exists, use its path.
REPORT_PATH_FALLBACK = "/report/"

# Chinese on purpose, not gettext: the poster is read by residents, in Chinese, whatever
# language the staff member printing it uses (see the module docstring).
POSTER_LEAD = "扫码报事：拍照 → 定位 → 发送"
POSTER_HINT = "发现垃圾、设施损坏、乱停乱放等问题，请扫码上报"
POSTER_BRAND = "云报 · {district}城市管理"
POSTER_BRAND_NO_DISTRICT = "云报 · 城市管理"
SUBTITLE_SEPARATOR = " · "
UNIT_AREAS_SEPARATOR = "、"
UNIT_AREAS_MORE = "等{count}个区域"
# A unit's subtitle lists at most this many service areas, then "等N个区域".
UNIT_AREAS_SHOWN = 4

# A4 at 150 dpi (A-series ratio √2); printed on A5 it is 212 dpi, still sharp.
POSTER_SIZE = (1240, 1754)
POSTER_DPI = 150
QR_BORDER = 4  # modules of quiet zone the QR standard asks for
QR_SIDE = 860  # pixels the QR code (with its quiet zone) may take on the poster
QR_TOP = 360

INK = (29, 39, 51)
MUTED = (91, 107, 124)
BRAND = (11, 107, 203)
WHITE = (255, 255, 255)

# Closing punctuation may not start a line (Chinese typesetting): it stays on the line before.
NO_LINE_START = set("，。、；：！？）》」』”’,.;:!?)")


class FontFace(NamedTuple):
    path: str
    face_index: int  # which face of a .ttc collection


@dataclass(frozen=True)
class CjkFont:
    regular: FontFace
    bold: FontFace


def _face(path: str, index: int = 0) -> FontFace:
    return FontFace(path, index)


# Where Linux distributions, macOS and Windows keep a CJK font; first found wins. In the
# Noto Sans CJK collections face 2 is the Simplified Chinese (SC) one.
CJK_FONTS: tuple[CjkFont, ...] = (
    CjkFont(
        _face("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
        _face("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ),
    CjkFont(
        _face("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
        _face("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 2),
    ),
    CjkFont(
        _face("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
        _face("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc", 2),
    ),
    CjkFont(
        _face("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
        _face("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2),
    ),
    CjkFont(
        _face("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
        _face("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    ),
    CjkFont(
        _face("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
        _face("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    ),
    CjkFont(
        _face("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
        _face("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    ),
    CjkFont(
        _face("/System/Library/Fonts/PingFang.ttc"), _face("/System/Library/Fonts/PingFang.ttc")
    ),
    CjkFont(_face("C:/Windows/Fonts/msyh.ttc"), _face("C:/Windows/Fonts/msyhbd.ttc")),
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


# --- URLs ----------------------------------------------------------------------------------


def report_path() -> str:
    """Path of the report page, or its planned path while that page does not exist yet."""
    try:
        return reverse("intake-report")
    except NoReverseMatch:
        return REPORT_PATH_FALLBACK


def report_url(
    request_or_base: HttpRequest | str, *, area: Area | None = None, unit: Unit | None = None
) -> str:
    """Absolute URL of the report page bound to `area` or to `unit` (exactly one of them).

    `request_or_base` is the current request (its scheme and host are used) or a base URL
    such as "https://yunbao.example.org/".
    """
    if area is not None and unit is None:
        query = urlencode({"area": area.code})
    elif unit is not None and area is None:
        query = urlencode({"unit": unit.code})
    else:
        raise ValueError("report_url needs exactly one of area= or unit=")
    path = f"{report_path()}?{query}"
    if isinstance(request_or_base, str):
        return urljoin(request_or_base, path)
    return request_or_base.build_absolute_uri(path)


# --- QR codes ------------------------------------------------------------------------------


def qr_code(url: str, *, box_size: int = 10, border: int = QR_BORDER) -> Any:
    """The `qrcode.QRCode` for `url`, made: error correction M survives a scuffed poster."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=box_size,
        border=border,
        image_factory=PilImage,
    )
    code.add_data(url)
    code.make(fit=True)
    return code


def _qr_image(url: str, *, box_size: int, border: int) -> Image.Image:
    image: Image.Image = qr_code(url, box_size=box_size, border=border).make_image().get_image()
    return image


def qr_png(url: str, *, box_size: int = 10, border: int = QR_BORDER) -> bytes:
    """PNG bytes of the QR code of `url`: `box_size` pixels per module, `border` modules."""
    buffer = io.BytesIO()
    _qr_image(url, box_size=box_size, border=border).save(buffer, "PNG")
    return buffer.getvalue()


def qr_data_uri(url: str, *, box_size: int = 10) -> str:
    """The QR PNG of `url` as a data: URI, to inline in a page that must print offline."""
    return "data:image/png;base64," + base64.b64encode(qr_png(url, box_size=box_size)).decode()


# --- Posters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poster:
    """What a poster shows; the same for the printable page and the PNG."""

    url: str
    title: str
    subtitle: str
    lines: tuple[str, ...]
    brand: str
    footer: str  # the area's or unit's code

    def png(self) -> bytes:
        return poster_png(
            url=self.url,
            title=self.title,
            subtitle=self.subtitle,
            lines=self.lines,
            brand=self.brand,
            footer=self.footer,
        )


def brand_line(district: Area | None) -> str:
    if district is None:
        return POSTER_BRAND_NO_DISTRICT
    return POSTER_BRAND.format(district=district.name)


def area_poster(request_or_base: HttpRequest | str, area: Area) -> Poster:
    """The poster of one area: its name, the names of the areas above it, its code."""
    chain = area.ancestors()  # root (the district) first, `area` last
    above = [a.name for a in chain[:-1]]
    return Poster(
        url=report_url(request_or_base, area=area),
        title=area.name,
        subtitle=SUBTITLE_SEPARATOR.join(above),
        lines=(POSTER_LEAD, POSTER_HINT),
        brand=brand_line(chain[0] if chain else None),
        footer=area.code,
    )


def unit_poster(request_or_base: HttpRequest | str, unit: Unit) -> Poster:
    """The poster of a unit's patrol area: the unit's name, its service areas, its code."""
    areas = list(unit.areas.order_by("path"))
    names = UNIT_AREAS_SEPARATOR.join(a.name for a in areas[:UNIT_AREAS_SHOWN])
    if len(areas) > UNIT_AREAS_SHOWN:
        names += UNIT_AREAS_MORE.format(count=len(areas))
    district = areas[0].ancestors()[0] if areas else None
    return Poster(
        url=report_url(request_or_base, unit=unit),
        title=unit.name,
        subtitle=names,
        lines=(POSTER_LEAD, POSTER_HINT),
        brand=brand_line(district),
        footer=unit.code,
    )


@functools.cache
def find_cjk_font() -> CjkFont | None:
    """The first CJK font of `CJK_FONTS` that loads, or None (logged once per process)."""
    for candidate in CJK_FONTS:
        try:
            for face in (candidate.regular, candidate.bold):
                if not Path(face.path).is_file():
                    raise OSError(face.path)
                ImageFont.truetype(face.path, 12, index=face.face_index)
        except OSError:
            continue
        return candidate
    log.warning(
        "No CJK font found (looked for %s); posters are drawn with Pillow's default font, "
        "which cannot show Chinese. Install fonts-noto-cjk (make browser).",
        ", ".join(c.regular.path for c in CJK_FONTS) or "nothing",
    )
    return None


@functools.lru_cache(maxsize=64)
def _font(size: int, *, bold: bool = False) -> Font:
    found = find_cjk_font()
    if found is None:
        return ImageFont.load_default(size=size)
    face = found.bold if bold else found.regular
    return ImageFont.truetype(face.path, size, index=face.face_index)


class QrPlacement(NamedTuple):
    """Where the QR code sits on the poster: top-left corner and pixels per module."""

    left: int
    top: int
    box_size: int
    border: int


def poster_qr_placement(url: str) -> QrPlacement:
    """The QR code's place on the poster of `url`: as big as fits in `QR_SIDE`, centred."""
    modules = qr_code(url, box_size=1).modules_count + 2 * QR_BORDER
    box_size = QR_SIDE // modules
    side = box_size * modules
    return QrPlacement(
        (POSTER_SIZE[0] - side) // 2, QR_TOP + (QR_SIDE - side) // 2, box_size, QR_BORDER
    )


def _width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    left, _top, right, _bottom = draw.textbbox((0, 0), _drawable(text, font), font=font)
    return right - left


def _drawable(text: str, font: Font) -> str:
    # Pillow's bitmap default font (only when Pillow lacks FreeType) encodes text as
    # Latin-1 and raises on Chinese: show what it can rather than failing the download.
    if isinstance(font, ImageFont.FreeTypeFont):
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def _fit(
    draw: ImageDraw.ImageDraw, text: str, *, size: int, minimum: int, width: int, bold: bool
) -> Font:
    """The largest font from `size` down to `minimum` in which `text` fits in `width`."""
    while size > minimum and _width(draw, text, _font(size, bold=bold)) > width:
        size = max(minimum, int(size * 0.9))
    return _font(size, bold=bold)


def _ellipsize(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    if _width(draw, text, font) <= width:
        return text
    while text and _width(draw, text + "…", font) > width:
        text = text[:-1]
    return text + "…"


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """Break `text` into lines of at most `width` pixels; Chinese may break between any
    two characters, except before closing punctuation."""
    lines: list[str] = []
    line = ""
    for char in text:
        if line and char not in NO_LINE_START and _width(draw, line + char, font) > width:
            lines.append(line)
            line = char.lstrip()
        else:
            line += char
    if line:
        lines.append(line)
    return lines


def _centred(
    draw: ImageDraw.ImageDraw, top: float, text: str, font: Font, fill: tuple[int, int, int]
) -> float:
    """Draw `text` centred across the poster with its ink starting at `top`; return its
    bottom. Positions come from textbbox, not anchors, which bitmap fonts do not support."""
    text = _drawable(text, font)
    left, upper, right, lower = draw.textbbox((0, 0), text, font=font)
    x = (POSTER_SIZE[0] - (right - left)) / 2 - left
    draw.text((x, top - upper), text, font=font, fill=fill)
    return top + (lower - upper)


def poster_png(
    *,
    url: str,
    title: str,
    subtitle: str,
    lines: Sequence[str],
    brand: str = "",
    footer: str = "",
) -> bytes:
    """A print-ready poster (`POSTER_SIZE` at `POSTER_DPI`) as PNG bytes.

    From the top: `title` large, `subtitle` (the places above or served), the QR code of
    `url`, the instruction `lines` (the first one emphasised), `footer` (a code) and `url`
    small, and `brand` in a band along the bottom.
    """
    width, height = POSTER_SIZE
    margin = 90
    text_width = width - 2 * margin
    image = Image.new("RGB", POSTER_SIZE, WHITE)
    draw = ImageDraw.Draw(image)

    # Thin coloured rules rather than large coloured areas: posters are often printed on
    # an office printer, in black and white.
    draw.rectangle((0, 0, width, 28), fill=BRAND)

    font = _fit(draw, title, size=150, minimum=60, width=text_width, bold=True)
    bottom = _centred(draw, 90, _ellipsize(draw, title, font, text_width), font, INK)
    if subtitle:
        font = _fit(draw, subtitle, size=48, minimum=30, width=text_width, bold=False)
        _centred(draw, bottom + 36, _ellipsize(draw, subtitle, font, text_width), font, MUTED)

    place = poster_qr_placement(url)
    qr_image = _qr_image(url, box_size=place.box_size, border=place.border)
    image.paste(qr_image.convert("RGB"), (place.left, place.top))
    side = qr_image.size[0]
    # The frame goes around the quiet zone, never into it: scanners need that margin white.
    draw.rounded_rectangle(
        (place.left - 12, place.top - 12, place.left + side + 12, place.top + side + 12),
        radius=28,
        outline=BRAND,
        width=6,
    )

    top: float = QR_TOP + QR_SIDE + 40
    for number, line in enumerate(lines):
        emphasised = number == 0
        font = (
            _fit(draw, line, size=66, minimum=44, width=text_width, bold=True)
            if emphasised
            else _font(44)
        )
        for part in _wrap(draw, line, font, text_width):
            bottom = _centred(draw, top, part, font, BRAND if emphasised else INK)
            top = bottom + (30 if emphasised else 20)
        top += 16

    band_top = height - 120
    small = _font(28)
    if footer:
        _centred(draw, band_top - 100, footer, _font(32, bold=True), MUTED)
    _centred(draw, band_top - 52, _ellipsize(draw, url, small, text_width), small, MUTED)
    draw.rectangle((0, band_top, width, height), fill=BRAND)
    if brand:
        font = _fit(draw, brand, size=48, minimum=30, width=text_width, bold=True)
        _left, upper, _right, lower = draw.textbbox((0, 0), _drawable(brand, font), font=font)
        _centred(draw, band_top + (120 - (lower - upper)) / 2, brand, font, WHITE)

    buffer = io.BytesIO()
    image.save(buffer, "PNG", dpi=(POSTER_DPI, POSTER_DPI), optimize=True)
    return buffer.getvalue()
