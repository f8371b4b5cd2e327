"""Ledger tags: short ``key=value`` labels on ledger rows (a key's metadata, a request's own).

A key's tags are set by the operator; a request may add its own with the ``x-imagegate-tags``
header (``compare_run=cmp_1a2b,ticket=IMG-42``). A request cannot change a tag its key sets: the
key's value wins, so a cost-centre tag cannot be dodged. Reports filter by one tag.
"""

from __future__ import annotations

import re

from imagegate.domain.errors import InvalidRequest

Tags = tuple[tuple[str, str], ...]
MAX_TAGS = 16
MAX_VALUE_CHARS = 200
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_tag(text: str, *, param: str = "tag") -> tuple[str, str]:
    """One ``name=value`` (names: letters, digits, ``_ . -``; values up to 200 characters)."""
    name, separator, value = text.strip().partition("=")
    name, value = name.strip(), value.strip()
    if separator == "" or _NAME.match(name) is None:
        raise InvalidRequest(
            f"{param}: expected name=value with a name of letters, digits, '_', '.' or '-', got {text.strip()[:80]!r}",
            param=param,
        )
    if value == "" or len(value) > MAX_VALUE_CHARS:
        raise InvalidRequest(f"{param}: the value of {name!r} must be 1 to {MAX_VALUE_CHARS} characters", param=param)
    return name, value


def parse_tags(header: str | None, *, param: str = "x-imagegate-tags") -> Tags:
    """A comma-separated list of tags (None or empty: none)."""
    if header is None or header.strip() == "":
        return ()
    items = [item for item in header.split(",") if item.strip() != ""]
    if len(items) > MAX_TAGS:
        raise InvalidRequest(f"{param}: at most {MAX_TAGS} tags", param=param)
    parsed = dict(parse_tag(item, param=param) for item in items)
    return tuple(sorted(parsed.items()))


def merge_tags(key_tags: Tags, request_tags: Tags) -> Tags:
    """The request's tags added to the key's; the key's value wins on a shared name."""
    if len(request_tags) == 0:
        return key_tags
    merged = dict(request_tags)
    merged.update(key_tags)
    return tuple(sorted(merged.items()))
