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


def _backslashes_before(chunk: bytes, start: int, stop: int) -> int:
    """How many backslashes end ``chunk[start:stop]``."""
    index = stop
    while index > start and chunk[index - 1] == 0x5C:
        index -= 1
    return stop - index


class SkeletonScanner:
    """``skeleton`` for a body that arrives in chunks: feed each chunk, then ``parse()`` at the end.

    Keeps only the JSON structure and the strings shorter than ``max_string`` bytes (longer ones,
    the base64 payloads, become ``""`` whatever their key), so what it holds is bounded by the
    body's structure, never by its images. Strings are skipped with ``bytes.find`` (the bytes are
    never decoded); escapes split across chunks are carried over. A skeleton over ``max_skeleton``
    bytes stops growing and ``parse()`` raises ``MalformedBody``.
    """

    __slots__ = (
        "_escape",
        "_in_string",
        "_long",
        "_max_skeleton",
        "_max_string",
        "_overflow",
        "_parts",
        "_size",
        "_string",
        "_string_size",
    )

    def __init__(self, *, max_string: int = 8192, max_skeleton: int = 1 << 20) -> None:
        self._max_string = max_string
        self._max_skeleton = max_skeleton
        self._parts: list[bytes] = []
        self._size = 0
        self._in_string = False
        self._escape = False  # the string so far ends in an odd run of backslashes (escaping what follows)
        self._long = False  # the current string passed ``max_string``: its content is dropped
        self._overflow = False
        # The current string's content kept so far (while it is short).
        self._string: list[bytes] = []
        self._string_size = 0

    @property
    def kept_bytes(self) -> int:
        """How much of the body the scanner holds (the structure and its short strings)."""
        return self._size + self._string_size

    def _keep(self, part: bytes) -> None:
        if self._overflow or len(part) == 0:
            return
        self._size += len(part)
        if self._size > self._max_skeleton:
            self._overflow = True
            self._parts.clear()
            return
        self._parts.append(part)

    def _string_part(self, chunk: bytes, start: int, stop: int) -> None:
        # Sliced only when kept: a base64 payload is skipped without a copy.
        if self._long or stop <= start:
            return
        self._string_size += stop - start
        if self._string_size > self._max_string:
            self._long = True
            self._string.clear()
            return
        self._string.append(chunk[start:stop])

    def _close_string(self) -> None:
        self._keep(b'"' + b"".join(self._string) + b'"')
        self._in_string = False
        self._long = False
        self._string.clear()
        self._string_size = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the body."""
        position = 0
        end = len(chunk)
        while position < end:
            if not self._in_string:
                quote = chunk.find(b'"', position)
                if quote == -1:
                    self._keep(chunk[position:])
                    return
                self._keep(chunk[position:quote])
                self._in_string = True
                self._escape = False
                position = quote + 1
                continue
            # One scan for the next quote; it is escaped when an odd run of backslashes precedes it
            # (a run that may have begun in an earlier chunk).
            quote = chunk.find(b'"', position)
            stop = end if quote == -1 else quote
            run = _backslashes_before(chunk, position, stop)
            escaped = (run % 2 == 1) != (self._escape and run == stop - position)
            self._string_part(chunk, position, stop)
            if quote == -1:
                self._escape = escaped
                return
            if escaped:
                self._string_part(chunk, quote, quote + 1)
                self._escape = False
            else:
                self._close_string()
            position = quote + 1

    def parse(self) -> Any:
        """The skeleton parsed; raises ``MalformedBody`` for a cut, invalid or oversized body."""
        if self._overflow:
            raise MalformedBody(f"the body's structure is larger than {self._max_skeleton} bytes")
        if self._in_string:
            raise MalformedBody("unterminated string")
        try:
            return orjson.loads(b"".join(self._parts))
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(str(exc)) from exc
