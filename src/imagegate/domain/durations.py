"""Spans of time as operators type them: ``90s``, ``30m``, ``2h``, ``7d``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_span(text: str) -> timedelta | None:
    """The span ``text`` spells (a whole number and one unit of s, m, h, d, w), or None if it is not one."""
    match = _SPAN.match(text.strip())
    if match is None:
        return None
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
