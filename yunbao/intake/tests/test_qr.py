"""QR codes and posters: the codes encode the right report link, posters render (with and
without a CJK font), and only the people responsible for a place may print for it.

No QR decoder is installed (pyzbar needs libzbar), so a QR code is checked by sampling its
modules from the PNG and comparing them with the matrix qrcode computes for the expected
URL: a different URL gives a different matrix, so this checks what a scanner would read.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qrcode
from django.test import Client
from django.urls import NoReverseMatch, reverse
from PIL import Image

from yunbao.geo.actions import create_area
from yunbao.geo.models import Level
from yunbao.intake import qr
from yunbao.testing import square

NOTO = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
BASE = "http://testserver"


def expected_matrix(url: str, *, border: int) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(url)
    code.make(fit=True)
    return code.get_matrix()


def sampled_matrix(
    png: bytes, *, box_size: int, modules: int, left: int = 0, top: int = 0
) -> list[list[bool]]:
    """Dark (True) or light for each module, read at the centre of its box."""
    image = Image.open(io.BytesIO(png)).convert("L")
    pixels, width = image.tobytes(), image.width
    half = box_size // 2

    def dark(x: int, y: int) -> bool:
        return pixels[y * width + x] < 128

    return [
        [dark(left + col * box_size + half, top + row * box_size + half) for col in range(modules)]
        for row in range(modules)
    ]


def assert_qr_png_encodes(png: bytes, url: str, *, box_size: int = 10, border: int = 4) -> None:
    expected = expected_matrix(url, border=border)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (len(expected) * box_size,) * 2
    sampled = sampled_matrix(png, box_size=box_size, modules=len(expected))
    assert sampled == expected
    # The check tells URLs apart (same size of code, different content).
    assert sampled != expected_matrix(url[:-1] + "Z", border=border)


def client_for(world: Any, name: str | None) -> Client:
    client = Client()
    if name:
        client.force_login(world.users[name])
    return client


@pytest.fixture
def fresh_fonts() -> Iterator[None]:
    """Forget the font found (and fonts loaded) before and after the test."""
    qr.find_cjk_font.cache_clear()
    qr._font.cache_clear()
    yield
    qr.find_cjk_font.cache_clear()
    qr._font.cache_clear()


# --- report_url and the QR PNG -------------------------------------------------------------


def test_it_builds_the_report_url_for_an_area_or_a_unit(world: Any, rf: Any) -> None:
    assert qr.report_url("https://yunbao.example/", area=world.grid1) == (
        "https://yunbao.example/report/?area=T010101"
    )
    request = rf.get("/qr/", secure=True)
    assert qr.report_url(request, unit=world.unit1) == "https://testserver/report/?unit=u1"


def test_it_wants_exactly_one_of_area_and_unit(world: Any) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        qr.report_url(BASE, area=world.grid1, unit=world.unit1)
    with pytest.raises(ValueError, match="exactly one"):
        qr.report_url(BASE)


def test_it_uses_the_report_path_while_the_report_page_is_missing(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: str, *args: Any, **kwargs: Any) -> str:
        raise NoReverseMatch(name)

    monkeypatch.setattr(qr, "reverse", missing)
    assert qr.report_path() == "/report/"
    assert qr.report_url(BASE, area=world.street1) == f"{BASE}/report/?area=T01"


@pytest.mark.parametrize(("box_size", "border"), [(10, 4), (3, 2)])
def test_it_encodes_the_url_in_the_qr_png(box_size: int, border: int) -> None:
    url = "https://yunbao.example/report/?area=440111006201"
    png = qr.qr_png(url, box_size=box_size, border=border)
    assert_qr_png_encodes(png, url, box_size=box_size, border=border)


def test_it_inlines_the_qr_png_as_a_data_uri() -> None:
    url = f"{BASE}/report/?unit=u1"
    uri = qr.qr_data_uri(url)
    assert uri.startswith("data:image/png;base64,")
    assert_qr_png_encodes(base64.b64decode(uri.removeprefix("data:image/png;base64,")), url)


# --- posters -------------------------------------------------------------------------------


def render(url: str = f"{BASE}/report/?area=T0101") -> bytes:
    return qr.poster_png(
        url=url,
        title="唐阁村",
        subtitle="白云区 · 江高镇",
        lines=(qr.POSTER_LEAD, qr.POSTER_HINT),
        brand="云报 · 白云区城市管理",
        footer="T0101",
    )


def dark_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    histogram = image.convert("L").crop(box).histogram()
    return sum(histogram[:128])


def test_it_draws_a_print_ready_poster_with_the_qr_code_on_it() -> None:
    url = f"{BASE}/report/?area=T0101"
    png = render(url)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == qr.POSTER_SIZE == (1240, 1754)
    assert round(image.info["dpi"][0]) == qr.POSTER_DPI
    # The QR code on the poster reads as the report URL.
    place = qr.poster_qr_placement(url)
    expected = expected_matrix(url, border=place.border)
    assert place.box_size * len(expected) <= qr.QR_SIDE
    sampled = sampled_matrix(
        png, box_size=place.box_size, modules=len(expected), left=place.left, top=place.top
    )
    assert sampled == expected


def test_it_writes_the_title_instructions_and_code_on_the_poster() -> None:
    image = Image.open(io.BytesIO(render()))
    width = qr.POSTER_SIZE[0]
    # Ink above the QR code (title, subtitle), below it (instructions) and at the bottom.
    assert dark_pixels(image, (0, 40, width, qr.QR_TOP - 20)) > 5000
    below_qr = qr.QR_TOP + qr.QR_SIDE + 20
    assert dark_pixels(image, (0, below_qr, width, below_qr + 250)) > 5000
    assert dark_pixels(image, (0, qr.POSTER_SIZE[1] - 220, width, qr.POSTER_SIZE[1])) > 5000


def test_it_shrinks_a_long_title_to_fit() -> None:
    long_title = "一个名字特别特别特别特别长的社区居民委员会"
    png = qr.poster_png(url=f"{BASE}/report/?unit=u1", title=long_title, subtitle="", lines=())
    image = Image.open(io.BytesIO(png)).convert("L")
    # Nothing of the title touches the poster's edges.
    assert dark_pixels(image, (0, 40, 60, qr.QR_TOP - 20)) == 0
    assert dark_pixels(image, (image.width - 60, 40, image.width, qr.QR_TOP - 20)) == 0
    assert dark_pixels(image, (60, 40, image.width - 60, qr.QR_TOP - 20)) > 5000


@pytest.mark.skipif(not NOTO.exists(), reason="fonts-noto-cjk is not installed (make browser)")
@pytest.mark.usefixtures("fresh_fonts")
def test_it_draws_chinese_with_the_system_cjk_font(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = qr.CjkFont(qr.FontFace("/nowhere/a.ttc", 0), qr.FontFace("/nowhere/b.ttc", 0))
    noto = qr.CjkFont(qr.FontFace(str(NOTO), 2), qr.FontFace(str(NOTO), 2))
    monkeypatch.setattr(qr, "CJK_FONTS", (missing, noto))
    assert qr.find_cjk_font() == noto
    font = qr._font(40)
    assert font.getname() == ("Noto Sans CJK SC", "Regular")  # type: ignore[union-attr]
    # A Chinese character has real ink, not the empty box of a missing glyph.
    assert font.getmask("唐").getbbox() != font.getmask("\uffff").getbbox()


@pytest.mark.usefixtures("fresh_fonts")
def test_it_falls_back_to_the_default_font_and_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = qr.CjkFont(qr.FontFace("/nowhere/a.ttc", 2), qr.FontFace("/nowhere/b.ttc", 2))
    monkeypatch.setattr(qr, "CJK_FONTS", (missing,))
    with caplog.at_level(logging.WARNING, logger="yunbao.intake.qr"):
        url = f"{BASE}/report/?area=T0101"
        png = render(url)
        render(url)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "warned once per process, not per poster"
    assert "No CJK font" in warnings[0].getMessage()
    assert "/nowhere/a.ttc" in warnings[0].getMessage()
    image = Image.open(io.BytesIO(png))
    assert image.size == qr.POSTER_SIZE
    place = qr.poster_qr_placement(url)
    expected = expected_matrix(url, border=place.border)
    sampled = sampled_matrix(
        png, box_size=place.box_size, modules=len(expected), left=place.left, top=place.top
    )
    assert sampled == expected


def test_it_describes_an_area_and_a_unit_in_chinese(world: Any) -> None:
    poster = qr.area_poster(BASE, world.grid1)
    assert poster.title == "一格"
    assert poster.subtitle == "测试区 · 一街 · 一村"
    assert poster.brand == "云报 · 测试区城市管理"
    assert poster.footer == "T010101"
    assert poster.lines == (qr.POSTER_LEAD, qr.POSTER_HINT)
    assert poster.url == f"{BASE}/report/?area=T010101"

    world.unit1.areas.add(world.street2)
    poster = qr.unit_poster(BASE, world.unit1)
    assert (poster.title, poster.subtitle, poster.footer) == ("一街环卫", "一街、二街", "u1")
    assert poster.url == f"{BASE}/report/?unit=u1"


def test_it_shortens_a_long_list_of_service_areas(world: Any) -> None:
    for n in range(5):
        world.unit2.areas.add(
            create_area(
                level=Level.COMMUNITY,
                code=f"T02{n:02d}X",
                name=f"村{n}",
                parent=world.street2,
                geometry=square(23.0, 113.01),
            )
        )
    subtitle = qr.unit_poster(BASE, world.unit2).subtitle
    assert subtitle.endswith("等6个区域")
    assert subtitle.count("、") == qr.UNIT_AREAS_SHOWN - 1


# --- pages ---------------------------------------------------------------------------------

AREA_CODES = ("T00", "T01", "T0101", "T010101", "T02")
# Status of each area's QR code for each person (None: anonymous).
AREA_ACCESS: dict[str | None, tuple[int, ...]] = {
    "alice": (404, 200, 200, 200, 404),  # dispatcher of street one
    "olga": (404, 404, 404, 404, 200),  # dispatcher of street two
    "dave": (200, 200, 200, 200, 200),  # manager of the district
    "ada": (200, 200, 200, 200, 200),  # administrator
    "carol": (404, 404, 404, 404, 404),  # supervisor: prints for her unit only
    "oscar": (404, 404, 404, 404, 404),  # organiser without areas
    "erin": (403, 403, 403, 403, 403),  # resident
    "fay": (403, 403, 403, 403, 403),  # inspector
    "bob": (403, 403, 403, 403, 403),  # worker
    None: (302, 302, 302, 302, 302),
}
UNIT_CODES = ("u1", "u2")
UNIT_ACCESS: dict[str | None, tuple[int, ...]] = {
    "alice": (200, 404),  # unit one serves street one, hers
    "olga": (404, 200),
    "dave": (200, 200),
    "ada": (200, 200),
    "carol": (200, 404),  # her own unit
    "oscar": (404, 404),
    "erin": (403, 403),
    "fay": (403, 403),
    "bob": (403, 403),
    None: (302, 302),
}


@pytest.mark.parametrize("name", list(AREA_ACCESS))
def test_it_lets_only_the_people_responsible_print_for_an_area(world: Any, name: Any) -> None:
    client = client_for(world, name)
    for code, expected in zip(AREA_CODES, AREA_ACCESS[name], strict=True):
        response = client.get(reverse("qr-area-png", args=[code]))
        assert response.status_code == expected, (name, code)
        if expected == 302:
            assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", list(UNIT_ACCESS))
def test_it_lets_only_the_people_responsible_print_for_a_unit(world: Any, name: Any) -> None:
    client = client_for(world, name)
    for code, expected in zip(UNIT_CODES, UNIT_ACCESS[name], strict=True):
        response = client.get(reverse("qr-unit-png", args=[code]))
        assert response.status_code == expected, (name, code)


@pytest.mark.parametrize(
    ("name", "kind", "code", "expected"),
    [
        ("alice", "area", "T0101", 200),
        ("olga", "area", "T0101", 404),
        ("carol", "unit", "u1", 200),
        ("carol", "unit", "u2", 404),
        ("erin", "area", "T0101", 403),
        ("erin", "unit", "u1", 403),
        ("ada", "area", "NOPE", 404),
        ("ada", "unit", "nope", 404),
        (None, "unit", "u1", 302),
    ],
)
def test_it_applies_the_same_rule_to_the_poster_and_its_png(
    world: Any, name: Any, kind: str, code: str, expected: int
) -> None:
    client = client_for(world, name)
    for suffix in ("png", "poster-png", "poster"):
        response = client.get(reverse(f"qr-{kind}-{suffix}", args=[code]))
        assert response.status_code == expected, (suffix, name, code)


def test_it_answers_unknown_codes_and_a_deactivated_unit_with_404(world: Any) -> None:
    client = client_for(world, "ada")
    assert client.get(reverse("qr-area-png", args=["T99"])).status_code == 404
    world.unit1.active = False
    world.unit1.save()
    assert client.get(reverse("qr-unit-png", args=["u1"])).status_code == 404


def test_it_serves_an_areas_qr_code_privately(world: Any) -> None:
    response = client_for(world, "alice").get(reverse("qr-area-png", args=["T0101"]))
    assert response["Content-Type"] == "image/png"
    assert "private" in response["Cache-Control"]
    assert_qr_png_encodes(response.content, f"{BASE}/report/?area=T0101")


def test_it_serves_a_units_qr_code(world: Any) -> None:
    response = client_for(world, "carol").get(reverse("qr-unit-png", args=["u1"]))
    assert response["Content-Type"] == "image/png"
    assert_qr_png_encodes(response.content, f"{BASE}/report/?unit=u1")


@pytest.mark.parametrize(("kind", "code"), [("area", "T0101"), ("unit", "u1")])
def test_it_downloads_a_poster_png_named_after_the_code(world: Any, kind: str, code: str) -> None:
    response = client_for(world, "dave").get(reverse(f"qr-{kind}-poster-png", args=[code]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "private" in response["Cache-Control"]
    assert response["Content-Disposition"] == f'attachment; filename="poster-{kind}-{code}.png"'
    image = Image.open(io.BytesIO(response.content))
    assert image.size == qr.POSTER_SIZE
    url = f"{BASE}/report/?{kind}={code}"
    place = qr.poster_qr_placement(url)
    expected = expected_matrix(url, border=place.border)
    sampled = sampled_matrix(
        response.content,
        box_size=place.box_size,
        modules=len(expected),
        left=place.left,
        top=place.top,
    )
    assert sampled == expected


def test_it_shows_a_printable_poster_page_for_an_area(world: Any) -> None:
    response = client_for(world, "alice").get(reverse("qr-area-poster", args=["T0101"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 class="title">一村</h1>' in html
    assert "测试区 · 一街" in html
    assert f"{BASE}/report/?area=T0101" in html
    assert qr.POSTER_LEAD in html
    assert qr.POSTER_HINT in html
    assert 'src="data:image/png;base64,' in html
    assert 'onclick="window.print()"' in html
    assert reverse("qr-area-poster-png", args=["T0101"]) in html
    # The inline QR code is the report link's.
    uri = html.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert_qr_png_encodes(base64.b64decode(uri), f"{BASE}/report/?area=T0101")


def test_it_shows_a_printable_poster_page_for_a_unit(world: Any) -> None:
    response = client_for(world, "carol").get(reverse("qr-unit-poster", args=["u1"]))
    html = response.content.decode()
    assert '<h1 class="title">一街环卫</h1>' in html
    assert '<p class="subtitle">一街</p>' in html
    assert f"{BASE}/report/?unit=u1" in html


def test_it_keeps_the_poster_in_chinese_on_an_english_page(world: Any) -> None:
    world.street1.name_en = "Street One"
    world.street1.save()
    client = client_for(world, "alice")
    html = client.get(reverse("qr-area-poster", args=["T01"]), HTTP_ACCEPT_LANGUAGE="en")
    text = html.content.decode()
    assert '<html lang="en">' in text
    assert ">Print</button>" in text
    assert '<article class="poster" lang="zh-Hans">' in text
    assert '<h1 class="title">一街</h1>' in text
    assert "Street One" not in text
    assert qr.POSTER_LEAD in text


def test_it_prints_on_a5_unless_a4_is_asked_for(world: Any) -> None:
    client = client_for(world, "alice")
    url = reverse("qr-area-poster", args=["T01"])
    assert "paper-a5" in client.get(url).content.decode()
    assert "@page" not in client.get(url).content.decode()
    a4 = client.get(url, {"paper": "A4"}).content.decode()
    assert "paper-a4" in a4
    assert "@page { size: A4; }" in a4
    assert "paper-a5" in client.get(url, {"paper": "letter<script>"}).content.decode()


# --- the index -----------------------------------------------------------------------------


def index(world: Any, name: str, **params: Any) -> str:
    response = client_for(world, name).get(reverse("qr-index"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_it_lists_streets_communities_and_units_a_person_may_print_for(world: Any) -> None:
    html = index(world, "alice")
    assert reverse("qr-area-poster", args=["T01"]) in html
    assert reverse("qr-area-poster", args=["T0101"]) in html
    assert reverse("qr-area-poster-png", args=["T0101"]) in html
    assert reverse("qr-area-png", args=["T0101"]) in html
    assert reverse("qr-unit-poster", args=["u1"]) in html
    # Not street two's, and no grids until searched for.
    # Links, not bare codes: a page's random CSRF token may contain "u2" or "T02".
    assert reverse("qr-area-poster", args=["T0201"]) not in html
    assert reverse("qr-unit-poster", args=["u2"]) not in html
    assert reverse("qr-area-poster", args=["T010101"]) not in html


def test_it_finds_grids_by_code_or_name(world: Any) -> None:
    html = index(world, "alice", q="T01010")
    assert reverse("qr-area-poster", args=["T010101"]) in html
    assert reverse("qr-area-poster", args=["T010102"]) in html
    assert reverse("qr-area-poster", args=["T0101"]) not in html
    html = index(world, "alice", q="一格乙")
    assert reverse("qr-area-poster", args=["T010102"]) in html
    assert reverse("qr-area-poster", args=["T010101"]) not in html
    # Searching never reaches beyond a person's areas.
    assert "T020101" not in index(world, "alice", q="二格")


def test_it_lists_for_a_supervisor_only_her_unit(world: Any) -> None:
    html = index(world, "carol")
    assert reverse("qr-unit-poster", args=["u1"]) in html
    assert reverse("qr-unit-poster", args=["u2"]) not in html
    assert reverse("qr-area-poster", args=["T01"]) not in html


def test_it_pages_the_areas_fifty_at_a_time(world: Any) -> None:
    for n in range(60):
        create_area(
            level=Level.COMMUNITY,
            code=f"T01P{n:02d}",
            name=f"新村{n}",
            parent=world.street1,
            geometry=square(23.0, 113.0),
        )
    first = index(world, "alice")
    second = index(world, "alice", page=2)
    listed = [f"T01P{n:02d}" for n in range(60)] + ["T01", "T0101"]
    on_first = {code for code in listed if f"/qr/area/{code}/poster/" in first}
    on_second = {code for code in listed if f"/qr/area/{code}/poster/" in second}
    assert len(on_first) == 50
    assert len(on_second) == 12
    assert on_first.isdisjoint(on_second)
    assert 'href="?page=2"' in first
    searched = index(world, "alice", q="新村", page=2)
    assert 'href="?q=%E6%96%B0%E6%9D%91&amp;page=1"' in searched


def test_it_shows_an_organiser_without_areas_an_empty_index(world: Any) -> None:
    html = index(world, "oscar")
    assert "/qr/area/" not in html
    assert "/qr/unit/" not in html


@pytest.mark.parametrize("name", ["erin", "fay", "bob"])
def test_it_refuses_the_index_to_people_who_do_not_print(world: Any, name: str) -> None:
    assert client_for(world, name).get(reverse("qr-index")).status_code == 403


def test_it_sends_an_anonymous_visitor_to_log_in(world: Any) -> None:
    response = Client().get(reverse("qr-index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
