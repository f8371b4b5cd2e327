"""Object keys both stores accept: relative paths that can never leave their root."""

from __future__ import annotations

import re

# Segments of letters, digits, '.', '_' and '-' that never start with '.' (so no '..', no hidden
# files, no store-internal names), joined by single '/': no absolute paths, no backslashes.
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
MAX_KEY_LENGTH = 512


class InvalidKey(ValueError):
    """An object key outside the allowed shape."""


def checked_key(key: str) -> str:
    """``key`` unchanged if it is a safe object key; ``InvalidKey`` otherwise."""
    if len(key) > MAX_KEY_LENGTH or _KEY.fullmatch(key) is None:
        raise InvalidKey(f"invalid object key {key[:80]!r}")
    return key
