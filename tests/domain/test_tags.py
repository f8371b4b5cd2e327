"""Ledger tags: parsing the header, and the key's tags winning over the request's."""

from __future__ import annotations

import pytest

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.tags import MAX_TAGS, merge_tags, parse_tag, parse_tags


def test_header_parses_sorted_and_trimmed() -> None:
    assert parse_tags(" ticket=IMG-42 , compare_run=cmp_1a2b ") == (("compare_run", "cmp_1a2b"), ("ticket", "IMG-42"))
    assert parse_tags(None) == ()
    assert parse_tags("  ") == ()
    assert parse_tags("a=1,a=2") == (("a", "2"),)  # the last one given wins
    assert parse_tag("url=https://x.test/a=b") == ("url", "https://x.test/a=b")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("novalue", "expected name=value"),
        ("bad name=x", "expected name=value"),
        ("=x", "expected name=value"),
        ("a=", "must be 1 to 200 characters"),
        ("a=" + "x" * 201, "must be 1 to 200 characters"),
        (",".join(f"t{i}=v" for i in range(MAX_TAGS + 1)), "at most 16 tags"),
    ],
)
def test_bad_headers_name_the_header(header: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        parse_tags(header)
    assert caught.value.param == "x-imagegate-tags"


def test_the_keys_value_wins() -> None:
    key = (("cost_centre", "marketing"),)
    assert merge_tags(key, (("cost_centre", "free"), ("run", "r1"))) == (("cost_centre", "marketing"), ("run", "r1"))
    assert merge_tags(key, ()) is key
