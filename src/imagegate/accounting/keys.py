"""Virtual key secrets: generation and hashing. Keys are shown once; only the hash is stored.

Keys carry 256 bits of randomness, so a single SHA-256 is the right hash (a slow password hash
buys nothing against a key that cannot be guessed, and would cost time on every request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "ig-"
VISIBLE_PREFIX_CHARS = 10


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: ``secret`` goes to the user once, the rest is stored."""

    secret: str
    prefix: str
    key_hash: str


def hash_key(secret: str) -> str:
    """Hex SHA-256 of a presented key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_key() -> NewKey:
    """A new random key with the visible ``ig-`` prefix."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret=secret, prefix=secret[:VISIBLE_PREFIX_CHARS], key_hash=hash_key(secret))
