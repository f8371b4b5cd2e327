"""``GET /admin/spend?by=team|key[&period=day|week|month|total]``: spend, reserved and remaining
budget and images per holder (``service.spend``). Open to ``admin`` and ``admin-read`` keys."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.api.admin.access import admin_endpoint
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import PERIODS
from imagegate.service.spend import SPEND_BY, SpendReport, spend_rows


async def _spend(request: Request) -> Response:
    query = request.query_params
    by = query.get("by", "team")
    if by not in SPEND_BY:
        raise InvalidRequest(f"'by' must be one of {', '.join(SPEND_BY)}.", param="by")
    raw_period = query.get("period")
    period = next((known for known in PERIODS if known == raw_period), None)
    if raw_period is not None and period is None:
        raise InvalidRequest(f"'period' must be one of {', '.join(PERIODS)}.", param="period")
    report: SpendReport = request.app.state.spend
    lines = await report.lines("team" if by == "team" else "key", period)
    body = {"object": "imagegate.spend", "by": by, "period": period, "data": spend_rows(lines)}
    return Response(orjson.dumps(body), media_type="application/json")


routes = [Route("/admin/spend", admin_endpoint(_spend, write=False), methods=["GET"])]
