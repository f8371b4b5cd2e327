"""The ``imagegate`` cost object a streamed OpenAI Images body ends with (api/openai/render.py)."""

from __future__ import annotations

import orjson
import pytest

from imagegate.api.passthrough import with_cost
from imagegate.pricing.engine import Charge

CHARGE = Charge(micros=52_980, estimated=False, breakdown={}, unit="token")


@pytest.mark.parametrize("trailing", [b"", b"\n", b" \r\n\t"])
def test_the_cost_goes_before_the_closing_brace_and_the_rest_is_untouched(trailing):
    last = b'"usage":{"output_tokens":196}}' + trailing
    added = with_cost(last, CHARGE)
    assert (
        added == b'"usage":{"output_tokens":196},"imagegate":{"cost_usd":"0.052980","cost_estimated":false}}' + trailing
    )
    whole = orjson.loads(b'{"data":[],' + added)
    assert whole["imagegate"] == {"cost_usd": "0.052980", "cost_estimated": False}


def test_an_estimated_cost_says_so():
    added = with_cost(b'{"data":[]}', Charge(micros=1, estimated=True, breakdown={}, unit="unpriced"))
    assert orjson.loads(added)["imagegate"] == {"cost_usd": "0.000001", "cost_estimated": True}


@pytest.mark.parametrize("last", [b'"cut off mid-str', b"   ", b""])
def test_a_body_not_ending_in_a_brace_goes_as_it_came(last):
    assert with_cost(last, CHARGE) == last
