"""The message catalogues: complete, up to date with the source, compiled, and in use.

`yunbao/locale/zh_Hans/LC_MESSAGES/django.po` must translate every message the source marks
for translation; English is the source language, so the `en` catalogue stays empty. To
update both after changing the source (`make messages` then compiles them):

    cd yunbao && ../.venv/bin/python -m django makemessages -l zh_Hans -l en --no-obsolete
"""

from __future__ import annotations

import ast
import gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import models
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import translation

from yunbao.catalog.models import Kind, Stage, TimeUnit, Urgency
from yunbao.conf import BASE_DIR
from yunbao.geo.models import Level
from yunbao.org.models import Role, RosterException, UnitKind, Weekday
from yunbao.workorders.models import PhotoKind, Source, Status
from yunbao.workorders.transitions import TRANSITIONS

PACKAGE = BASE_DIR / "yunbao"
LOCALE = PACKAGE / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
EN_PO = LOCALE / "en" / "LC_MESSAGES" / "django.po"
UPDATE = "cd yunbao && ../.venv/bin/python -m django makemessages -l zh_Hans -l en --no-obsolete"

CJK = re.compile(r"[\u4e00-\u9fff]")
# %(name)s, %(count)d, %(share).2f … and a literal %%; {0} / {name} for brace-format.
PYTHON_FORMAT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
BRACE_FORMAT = re.compile(r"\{[^{}]*\}")


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid


def parse_po(path: Path) -> list[Entry]:
    """The entries of a .po file, the header (msgid "") first; enough of the format for ours."""
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, started
        if started:
            entries.append(entry)
        entry, started = Entry(), False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        obsolete = line.startswith("#~")
        if obsolete:
            line = line[2:].strip()
            if line.startswith("|"):  # the previous msgid of an obsolete entry
                continue
        if not line:
            finish()
            target = None
            continue
        if line.startswith("#"):
            if started:
                finish()
            if line.startswith("#,"):
                entry.flags.update(f.strip() for f in line[2:].split(",") if f.strip())
            continue
        keyword, _space, rest = line.partition(" ")
        if keyword.startswith('"'):
            text, part = ast.literal_eval(line), None
        else:
            text, part = ast.literal_eval(rest), keyword
        new_entry = part == "msgctxt" or (part == "msgid" and target != ("msgctxt", 0))
        if started and new_entry:
            finish()
        if part is not None:
            started = True
            target = ("msgstr", int(part[7:-1])) if part.startswith("msgstr[") else (part, 0)
            if target[0] == "msgstr":
                entry.msgstr[target[1]] = ""
        assert target is not None, f"{path}: a string outside any keyword: {raw!r}"
        entry.obsolete = entry.obsolete or obsolete
        name, index = target
        if name == "msgid":
            entry.msgid += text
        elif name == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + text
        elif name == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + text
        else:
            entry.msgstr[index] += text
    finish()
    return entries


def header(entries: list[Entry]) -> dict[str, str]:
    first = entries[0]
    assert first.msgid == "", "the catalogue must start with its header"
    assert "fuzzy" not in first.flags, "a fuzzy header is ignored by msgfmt"
    fields = (line.partition(":") for line in first.msgstr[0].splitlines())
    return {name.strip(): value.strip() for name, colon, value in fields if colon}


def messages(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.msgid and not e.obsolete]


def placeholders(text: str, flags: set[str]) -> list[str]:
    found: list[str] = []
    if "python-format" in flags:
        found += PYTHON_FORMAT.findall(text)
    if "python-brace-format" in flags:
        found += BRACE_FORMAT.findall(text)
    return sorted(found)


# --- (a) complete -----------------------------------------------------------------------


def test_the_parser_reads_what_it_needs() -> None:
    entries = parse_po(ZH_PO)
    assert header(entries)["Language"] == "zh_Hans"
    keys = {e.key for e in messages(entries)}
    assert (None, "Submitted") in keys
    assert ("sort position", "order") in keys
    assert len(keys) == len(messages(entries)), "an entry was parsed twice"


def test_the_chinese_catalogue_has_a_proper_header() -> None:
    meta = header(parse_po(ZH_PO))
    assert meta["Language"] == "zh_Hans"
    assert meta["Content-Type"] == "text/plain; charset=UTF-8"
    assert meta["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"


def test_the_english_catalogue_has_a_proper_header_and_no_translations() -> None:
    entries = parse_po(EN_PO)
    meta = header(entries)
    assert meta["Language"] == "en"
    assert meta["Content-Type"] == "text/plain; charset=UTF-8"
    assert meta["Plural-Forms"].replace(" ", "") == "nplurals=2;plural=(n!=1);"
    # English is the source language: an empty msgstr means "as written".
    assert [e.msgid for e in messages(entries) if any(e.msgstr.values())] == []


def test_every_message_is_translated_into_chinese() -> None:
    entries = messages(parse_po(ZH_PO))
    assert entries
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert fuzzy == [], f"fuzzy (unchecked) translations: {fuzzy}"
    obsolete = [e.msgid for e in parse_po(ZH_PO) if e.obsolete]
    assert obsolete == [], f"obsolete entries; run {UPDATE}"
    for e in entries:
        # Chinese has one plural form: msgstr[0] only, like a singular entry's msgstr.
        assert sorted(e.msgstr) == [0], f"msgstr forms of {e.msgid!r}"
        assert all(s.strip() for s in e.msgstr.values()), f"untranslated: {e.msgid!r}"


def test_every_translation_keeps_the_placeholders() -> None:
    for e in messages(parse_po(ZH_PO)):
        for text in e.msgstr.values():
            assert placeholders(text, e.flags) == placeholders(e.msgid, e.flags), e.msgid


def test_the_compiled_catalogues_match_the_sources() -> None:
    for po in (ZH_PO, EN_PO):
        mo = po.with_suffix(".mo")
        assert mo.exists(), f"{mo} is missing: run `make messages`"
        with mo.open("rb") as f:
            compiled = gettext.GNUTranslations(f)
        stale = []
        for e in messages(parse_po(po)):
            wanted = e.msgstr.get(0) or e.msgid
            if e.msgctxt is None:
                got = compiled.gettext(e.msgid)
            else:
                got = compiled.pgettext(e.msgctxt, e.msgid)
            if got != wanted:
                stale.append(e.msgid)
        assert stale == [], f"{mo} is older than {po.name}: run `make messages` ({stale[:5]})"


# --- (b) up to date ---------------------------------------------------------------------


def test_the_catalogue_holds_every_message_of_the_source(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("xgettext") is None or shutil.which("msguniq") is None:
        pytest.skip("GNU gettext (xgettext) is not installed; it extracts the messages")
    # A copy of the source without its catalogues, so the real ones are not touched.
    source = tmp_path / "yunbao"
    shutil.copytree(
        PACKAGE,
        source,
        ignore=shutil.ignore_patterns("locale", "__pycache__", "*.pyc", "static", "*.json"),
    )
    (source / "locale").mkdir()
    settings.LOCALE_PATHS = [source / "locale"]
    monkeypatch.chdir(source)
    call_command("makemessages", locale=["zh_Hans"], no_obsolete=True, verbosity=0)
    extracted = source / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    fresh = {e.key for e in messages(parse_po(extracted))}
    committed = {e.key for e in messages(parse_po(ZH_PO))}
    missing = sorted(fresh - committed, key=str)
    assert missing == [], f"not in the catalogue: {missing}; run {UPDATE} and translate"
    assert len(fresh) > 300


# --- (c) in use -------------------------------------------------------------------------

CHOICES: list[type[models.Choices]] = [
    Status,
    Source,
    PhotoKind,
    Role,
    UnitKind,
    Weekday,
    RosterException.Kind,
    Level,
    Stage,
    Urgency,
    TimeUnit,
    Kind,
]


@pytest.mark.parametrize("choices", CHOICES, ids=lambda c: c.__qualname__)
def test_every_choice_reads_chinese_in_chinese_and_english_in_english(
    choices: type[models.Choices],
) -> None:
    with translation.override("zh-hans"):
        chinese = [str(label) for label in choices.labels]
    with translation.override("en"):
        english = [str(label) for label in choices.labels]
    assert all(CJK.search(label) for label in chinese if label != "Open311"), chinese
    if choices is not Kind:  # "Event (事件)" names the standard's term
        assert not any(CJK.search(label) for label in english), english


def test_key_words_use_the_urban_management_terms() -> None:
    with translation.override("zh-hans"):
        assert str(Status.SUBMITTED.label) == "已上报"
        assert str(Status.CLOSED.label) == "已结案"
        assert str(Status.SUSPENDED.label) == "已挂账"
        assert str(TRANSITIONS["accept"].label) == "立案"
        assert str(TRANSITIONS["reject"].label) == "不予立案"
        assert str(TRANSITIONS["dispatch"].label) == "派遣"
        assert str(TRANSITIONS["rework"].label) == "返工"
        assert str(Role.INSPECTOR.label) == "巡查员"
        assert str(Level.GRID.label) == "网格"
        refusal = translation.gettext("You may not %(action)s this order.")
        assert "无权" in refusal % {"action": TRANSITIONS["verify"].label}
    with translation.override("en"):
        assert str(Status.SUBMITTED.label) == "Submitted"
        assert str(TRANSITIONS["accept"].label) == "Accept (file)"
        refusal = translation.gettext("You may not %(action)s this order.")
        assert refusal == "You may not %(action)s this order."


def test_a_template_renders_in_the_active_language() -> None:
    with translation.override("zh-hans"):
        assert "暂无工单。" in render_to_string("workorders/_order_list.html", {"orders": []})
    with translation.override("en"):
        assert "Nothing here." in render_to_string("workorders/_order_list.html", {"orders": []})


# --- (d) chosen by the browser ----------------------------------------------------------


def _login_page(client: Client, **headers: str) -> str:
    response = client.get(reverse("login"), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_login_page_follows_accept_language(db: None) -> None:
    english = _login_page(Client(), **{"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english
    assert "Log in" in english
    assert "Username" in english
    assert not CJK.search(english.replace("云报", "").replace("中文", ""))

    chinese = _login_page(Client(), **{"accept-language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-hans">' in chinese
    assert "登录" in chinese
    assert "用户名" in chinese
    assert "Log in" not in chinese


def test_the_login_page_follows_the_language_cookie(db: None, settings: Any) -> None:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Username" in _login_page(client, **{"accept-language": "zh-CN"})
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "用户名" in _login_page(client, **{"accept-language": "en"})


def test_the_default_language_is_chinese(db: None, settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    assert "登录" in _login_page(Client())
