"""Every setting in `yunbao.conf` is documented in docs/configuration.md, and parses well."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from yunbao import conf
from yunbao.conf import BY_NAME, SETTINGS, Setting, parse_bool, parse_list

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
SETTING_LIKE = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)`")


def documented_rows(text: str) -> list[tuple[str, list[str]]]:
    """(setting-like name, row cells) for each heading and table row naming one.

    Only headings and the first cell of table rows count as "documenting" a setting, so
    prose and examples may mention `SECRET_KEY_FILE` or Django's own names freely. Fenced
    code blocks are skipped: a shell comment there is not a heading.
    """
    found: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if stripped.startswith("#"):
            found += [(name, []) for name in SETTING_LIKE.findall(stripped)]
        elif stripped.startswith("|"):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            found += [(name, cells) for name in SETTING_LIKE.findall(cells[0])]
    return found


@pytest.fixture(scope="module")
def docs_rows() -> list[tuple[str, list[str]]]:
    return documented_rows(DOCS.read_text(encoding="utf-8"))


def test_it_documents_every_setting(docs_rows: list[tuple[str, list[str]]]) -> None:
    documented = {name for name, _ in docs_rows}
    missing = [s.name for s in SETTINGS if s.name not in documented]
    assert not missing, f"add these settings to {DOCS.name}: {', '.join(missing)}"


def test_it_documents_no_setting_that_no_longer_exists(
    docs_rows: list[tuple[str, list[str]]],
) -> None:
    stale = sorted({name for name, _ in docs_rows} - set(BY_NAME))
    assert not stale, f"{DOCS.name} documents settings not in yunbao.conf: {', '.join(stale)}"


def test_it_documents_each_setting_in_one_row_only(docs_rows: list[tuple[str, list[str]]]) -> None:
    names = [name for name, cells in docs_rows if cells]
    assert len(names) == len(set(names)) == len(SETTINGS)


def test_it_documents_the_real_defaults(docs_rows: list[tuple[str, list[str]]]) -> None:
    for name, cells in docs_rows:
        if not cells:
            continue
        default = BY_NAME[name].default
        expected = f"`{default}`" if default else "(empty)"
        assert cells[1] == expected, f"{name}: docs say {cells[1]}, yunbao.conf says {expected}"
        assert all(cells[2:]), f"{name}: meaning and example must not be empty"


def test_it_finds_documented_names_only_in_headings_and_first_cells() -> None:
    text = "\n".join(
        [
            "# `ALPHA` and `BETA_2`",
            "Prose about `GAMMA` is not documentation.",
            "| `DELTA` | `1` | uses `EPSILON` | `2` |",
            "```sh",
            "# `ZETA` in a shell comment",
            "```",
        ]
    )
    assert [name for name, _ in documented_rows(text)] == ["ALPHA", "BETA_2", "DELTA"]


# --- yunbao.conf parsing ------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "On"])
def test_it_parses_true_booleans(raw: str) -> None:
    assert parse_bool(raw) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", ""])
def test_it_parses_false_booleans(raw: str) -> None:
    assert parse_bool(raw) is False


def test_it_names_the_setting_when_a_boolean_is_bad() -> None:
    with pytest.raises(ValueError, match=r"^setting YUNBAO_DEMO: not a boolean: 'maybe'"):
        BY_NAME["YUNBAO_DEMO"].read({"YUNBAO_DEMO": "maybe"})


def test_it_names_the_setting_when_a_number_is_bad() -> None:
    with pytest.raises(ValueError, match=r"^setting WEB_WORKERS: .*'four'"):
        BY_NAME["WEB_WORKERS"].read({"WEB_WORKERS": "four"})


def test_it_parses_comma_separated_lists() -> None:
    assert parse_list(" a.example, b.example,,") == ["a.example", "b.example"]
    assert parse_list("") == []
    assert BY_NAME["ALLOWED_HOSTS"].read({}) == ["127.0.0.1", "localhost"]
    assert BY_NAME["ALLOWED_HOSTS"].read({"ALLOWED_HOSTS": "x.example"}) == ["x.example"]


def test_it_reads_a_secret_from_the_file_variant(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("  s3cret-from-file\n")
    setting = BY_NAME["SECRET_KEY"]
    assert setting.read({"SECRET_KEY_FILE": str(secret)}) == "s3cret-from-file"
    # The variable itself wins over the file.
    environ = {"SECRET_KEY": "from-env", "SECRET_KEY_FILE": str(secret)}
    assert setting.read(environ) == "from-env"


def test_it_parses_a_file_variant_like_the_variable(tmp_path: Path) -> None:
    workers = tmp_path / "workers"
    workers.write_text("4\n")
    assert BY_NAME["WEB_WORKERS"].read({"WEB_WORKERS_FILE": str(workers)}) == 4


def test_it_treats_a_set_but_empty_variable_as_set() -> None:
    assert BY_NAME["ALLOWED_HOSTS"].read({"ALLOWED_HOSTS": ""}) == []


def test_it_reads_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H3_RESOLUTION", "9")
    assert conf.read("H3_RESOLUTION") == 9
    monkeypatch.delenv("H3_RESOLUTION")
    assert conf.read("H3_RESOLUTION") == 10


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_it_has_a_default_that_parses(setting: Setting) -> None:
    setting.read({})  # raises on a default its own parser refuses
    assert setting.help.strip()
