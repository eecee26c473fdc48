"""API keys for machine clients (Open311 applications, REST API tokens): made, hashed, checked.

A key looks like `o311_Ab3dE9xQ` + 40 more letters and digits: a namespace (`o311`), an
8-character lookup id and the secret. Only the lookup prefix (namespace + id, unique, shown
in the admin so people can tell their keys apart) and the SHA-256 of the whole key are
stored; the key itself is shown once, when it is made.

A plain, unsalted SHA-256 is right here, unlike for passwords: the key is 48 random letters
and digits (about 285 bits), so there is nothing to guess and no dictionary to precompute,
and a fast hash keeps every API request cheap. The check finds the row by its prefix, then
compares the hashes in constant time (`hmac.compare_digest`), so response times say nothing
about how much of a guessed key was right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 8
SECRET_LENGTH = 40
NAMESPACE_RE = re.compile(r"^[a-z0-9]{1,16}$")
KEY_RE = re.compile(
    rf"^(?P<prefix>[a-z0-9]{{1,16}}_[A-Za-z0-9]{{{ID_LENGTH}}})[A-Za-z0-9]{{{SECRET_LENGTH}}}$"
)
# The longest lookup prefix `split_prefix` can return (for the model field's max_length).
PREFIX_MAX_LENGTH = 16 + 1 + ID_LENGTH


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_key(prefix: str) -> tuple[str, str, str]:
    """A new random key in the namespace `prefix` (1–16 of a–z 0–9, e.g. "o311").

    Returns (the plain key, to show once; its lookup prefix, to store; its hash, to store).
    """
    if not NAMESPACE_RE.match(prefix):
        raise ValueError(f"key namespace must be 1-16 of a-z and 0-9, not {prefix!r}")
    plain = f"{prefix}_{_random(ID_LENGTH)}{_random(SECRET_LENGTH)}"
    return plain, split_prefix(plain), hash_key(plain)


def key_from_seed(prefix: str, seed: str) -> str:
    """A well-formed key derived from `seed` (the same seed gives the same key).

    For demo installations only, where a fixed key must be printed on every start; the
    seed must be secret (e.g. derived from SECRET_KEY), or the key is public.
    """
    if not NAMESPACE_RE.match(prefix):
        raise ValueError(f"key namespace must be 1-16 of a-z and 0-9, not {prefix!r}")
    digest = hmac.new(seed.encode(), f"apikey:{prefix}".encode(), hashlib.sha512).digest()
    # 64 bytes → 48 characters of a 62-letter alphabet (a slight bias is harmless here).
    chars = "".join(ALPHABET[b % len(ALPHABET)] for b in digest[: ID_LENGTH + SECRET_LENGTH])
    return f"{prefix}_{chars}"


def hash_key(plain: str) -> str:
    """The hex SHA-256 of a key, as stored."""
    return hashlib.sha256(plain.encode()).hexdigest()


def split_prefix(plain: str) -> str:
    """The lookup prefix of a key ("o311_Ab3dE9xQ"), or "" when it is not shaped like one."""
    match = KEY_RE.match(plain or "")
    return match.group("prefix") if match else ""


def matches(plain: str, stored_hash: str) -> bool:
    """Whether `plain` is the key whose hash is `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_key(plain or ""), stored_hash or "")
