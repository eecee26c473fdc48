"""API keys: shape, lookup prefix, hashing, constant-time check, bad input."""

from __future__ import annotations

import hashlib

import pytest

from yunbao.lib import apikeys


def test_a_new_key_carries_its_namespace_and_lookup_prefix() -> None:
    plain, prefix, digest = apikeys.new_key("o311")
    assert plain.startswith("o311_")
    assert len(plain) == len("o311_") + apikeys.ID_LENGTH + apikeys.SECRET_LENGTH
    assert prefix == plain[: len("o311_") + apikeys.ID_LENGTH]
    assert apikeys.split_prefix(plain) == prefix
    assert digest == hashlib.sha256(plain.encode()).hexdigest()
    assert len(prefix) <= apikeys.PREFIX_MAX_LENGTH


def test_every_key_is_different() -> None:
    keys = {apikeys.new_key("ybk")[0] for _ in range(200)}
    assert len(keys) == 200
    assert len({apikeys.split_prefix(k) for k in keys}) == 200


def test_only_the_right_key_matches_its_hash() -> None:
    plain, _, digest = apikeys.new_key("o311")
    assert apikeys.matches(plain, digest)
    assert not apikeys.matches(plain[:-1] + ("A" if plain[-1] != "A" else "B"), digest)
    assert not apikeys.matches("", digest)
    assert not apikeys.matches(plain, "")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "o311",
        "o311_",
        "o311_short",
        "O311_" + "a" * 48,  # the namespace is lower case
        "o311_" + "a" * 47,  # one short
        "o311_" + "a" * 49,  # one long
        "o311_" + "a" * 47 + "-",  # outside the alphabet
        "o311_" + "a" * 47 + "\n",
        "thisnamespaceistoolong_" + "a" * 48,
        "<script>_" + "a" * 48,
    ],
)
def test_a_malformed_key_has_no_prefix(bad: str) -> None:
    assert apikeys.split_prefix(bad) == ""


@pytest.mark.parametrize("namespace", ["", "O311", "o_311", "a" * 17, "o311 "])
def test_a_bad_namespace_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        apikeys.new_key(namespace)
    with pytest.raises(ValueError, match="namespace"):
        apikeys.key_from_seed(namespace, "seed")


def test_a_seeded_key_is_stable_well_formed_and_depends_on_the_seed() -> None:
    one = apikeys.key_from_seed("o311", "secret-1")
    assert one == apikeys.key_from_seed("o311", "secret-1")
    assert one != apikeys.key_from_seed("o311", "secret-2")
    assert one[len("o311_") :] != apikeys.key_from_seed("ybk", "secret-1")[len("ybk_") :]
    assert apikeys.split_prefix(one).startswith("o311_")
    assert apikeys.matches(one, apikeys.hash_key(one))
