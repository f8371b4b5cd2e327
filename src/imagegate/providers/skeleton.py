"""Read a large JSON body without decoding its base64 payloads.

Image responses are megabytes of base64 inside a few hundred bytes of structure. ``skeleton``
copies only the structure, blanking the named string fields, so the body can be fully parsed
(and so validated) for the price of its small part; the original bytes are forwarded untouched.
"""

from __future__ import annotations

from typing import Any

import orjson


class MalformedBody(ValueError):
    """The body is not the JSON it claims to be (truncated, cut, or not JSON at all)."""


def _string_end(body: bytes, start: int) -> int:
    """Index of the quote closing the JSON string whose content starts at ``start``."""
    index = start
    while True:
        index = body.find(b'"', index)
        if index == -1:
            raise MalformedBody("unterminated string")
        backslashes = 0
        probe = index - 1
        while probe >= start and body[probe] == 0x5C:
            backslashes += 1
            probe -= 1
        if backslashes % 2 == 0:
            return index
        index += 1


def skeleton(body: bytes, keys: tuple[bytes, ...]) -> tuple[bytes, int]:
    """``(body with the string values of ``keys`` emptied, number of values emptied)``."""
    parts: list[bytes] = []
    count = 0
    cursor = 0
    needles = [b'"' + key + b'"' for key in keys]
    while True:
        hits = [(body.find(needle, cursor), needle) for needle in needles]
        hits = [(index, needle) for index, needle in hits if index != -1]
        if not hits:
            break
        index, needle = min(hits)
        after = index + len(needle)
        colon = after
        while colon < len(body) and body[colon] in b" \t\r\n":
            colon += 1
        if colon >= len(body) or body[colon] != 0x3A:
            parts.append(body[cursor:after])
            cursor = after
            continue
        value = colon + 1
        while value < len(body) and body[value] in b" \t\r\n":
            value += 1
        if value >= len(body) or body[value] != 0x22:
            parts.append(body[cursor:after])
            cursor = after
            continue
        end = _string_end(body, value + 1)
        parts.append(body[cursor : value + 1])
        cursor = end
        count += 1
    parts.append(body[cursor:])
    return b"".join(parts), count


def parse_skeleton(body: bytes, keys: tuple[bytes, ...]) -> tuple[Any, int]:
    """Parse ``body`` with the ``keys`` string values blanked; raises ``MalformedBody``."""
    try:
        light, count = skeleton(body, keys)
        return orjson.loads(light), count
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(str(exc)) from exc
