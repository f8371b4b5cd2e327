"""The one size parser: only canonical ``WIDTHxHEIGHT`` with positive ASCII digits is a size."""

from __future__ import annotations

import pytest

from imagegate.domain.size import is_size, parse_size, size_or_none


@pytest.mark.parametrize(
    ("text", "dims"),
    [("1536x1024", (1536, 1024)), ("1x1", (1, 1)), ("99999x16", (99999, 16)), ("3840x2160", (3840, 2160))],
)
def test_canonical_sizes_parse(text: str, dims: tuple[int, int]) -> None:
    assert parse_size(text) == dims
    assert size_or_none(text) == dims
    assert is_size(text)


@pytest.mark.parametrize(
    "text",
    [
        "0x0",
        "0x1024",
        "1024x0",
        "-1x5",
        "1024X1024",  # upper-case X: refused, not normalised
        "１０２４x１０２４",  # fullwidth digits: str.isdigit() and int() accept them, the parser does not
        "1024x１０２４",
        "١٠٢٤x١٠٢٤",  # Arabic-Indic digits
        "²x²",  # superscripts are isdigit() too
        "01024x1024",
        "1024x01024",
        " 1024x1024",
        "1024x1024 ",
        "1024 x 1024",
        "1024x1024\n",
        "100000x1",  # six digits: beyond any image model
        "1024",
        "1024x",
        "x1024",
        "1024x1024x1024",
        "16:9",
        "1K",
        "auto",
        "",
    ],
)
def test_everything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)
    assert size_or_none(text) is None
    assert not is_size(text)
