"""What a passed-through OpenAI Images answer says it cost: the ``imagegate`` object at the body's
end (its usage comes last, so no header can carry it; docs/performance.md)."""

from __future__ import annotations

from typing import Any

import orjson


def body_cost(raw: Any) -> str:
    """``cost_usd`` of an SDK raw response (``with_raw_response``) or an ``httpx.Response``;
    checks that no cost header came with it and that the cost is exact, not estimated."""
    assert "x-imagegate-cost-usd" not in raw.headers
    body = raw.http_response.content if hasattr(raw, "http_response") else raw.content
    reported = orjson.loads(body)["imagegate"]
    assert reported["cost_estimated"] is False
    cost: str = reported["cost_usd"]
    return cost
