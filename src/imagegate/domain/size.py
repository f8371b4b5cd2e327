"""Pixel sizes, ``WIDTHxHEIGHT``: the one parser for the whole house (dialects, adapters, pricing, estimator).

Only the canonical spelling is a size: ASCII digits without a leading zero, a lower-case ``x``, at
most five digits a side (``1536x1024``). ``1024X1024``, fullwidth digits (``１０２４x１０２４``),
``0x0``, ``-1x5``, ``01024x1024`` and ``auto`` are not sizes. A look-alike is refused rather than
normalised because the gateway forwards the client's own string to a provider that lists the size,
and a provider given a spelling it does not list would fail (or bill) in its own way; a clear 400
naming ``size`` before anything is paid is the better answer (docs/translation.md, "Principles").
"""

from __future__ import annotations

import re

__all__ = ["SIZE_SPELLING", "is_size", "parse_size", "size_or_none"]

# ASCII only: ``\d`` would accept any Unicode digit (and int() would read it).
_SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})", re.ASCII)
SIZE_SPELLING = "WIDTHxHEIGHT in pixels, e.g. 1024x1024"


def parse_size(size: str) -> tuple[int, int]:
    """``"1536x1024"`` -> ``(1536, 1024)``; ``ValueError`` for anything that is not a positive canonical size."""
    match = _SIZE.fullmatch(size)
    if match is None:
        raise ValueError(f"not a size: {size!r} (expected {SIZE_SPELLING})")
    return int(match.group(1)), int(match.group(2))


def size_or_none(size: str) -> tuple[int, int] | None:
    """``parse_size``, or ``None`` for anything that is not a size (``auto``, a tier such as ``1K``)."""
    match = _SIZE.fullmatch(size)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def is_size(size: str) -> bool:
    """Whether ``size`` is a canonical ``WIDTHxHEIGHT`` size."""
    return _SIZE.fullmatch(size) is not None
