"""``GET /api/report?by=model|route|key&since=...&until=...[&tag=name=value][&format=csv]``: spend and acceptance.

Admin only: the master key, or an ``admin``/``admin-read`` key (``api.admin.access``). The JSON and CSV shapes are
``service.report.Report``'s, the same as ``imagegate report``.
"""

from __future__ import annotations

from datetime import datetime

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.reports import DIMENSIONS, ReportDimension
from imagegate.api.admin.access import admin_endpoint
from imagegate.api.admin.params import time_param
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.tags import parse_tag
from imagegate.service.report import build_report


async def _report(request: Request) -> Response:
    """``GET /api/report``."""
    state = request.app.state
    by, since, until, output, tag = _query(request)
    report = await anyio.to_thread.run_sync(lambda: build_report(state.reports, by, since=since, until=until, tag=tag))
    headers: dict[str, str] = {}
    if output == "csv":
        headers["content-disposition"] = f'attachment; filename="imagegate-report-by-{by}.csv"'
        return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(orjson.dumps(report.as_dict()), media_type="application/json", headers=headers)


def _query(request: Request) -> tuple[ReportDimension, datetime | None, datetime | None, str, tuple[str, str] | None]:
    query = request.query_params
    by = query.get("by", "model")
    if by not in DIMENSIONS:
        raise InvalidRequest(f"'by' must be one of {', '.join(DIMENSIONS)}.", param="by")
    output = query.get("format", "json")
    if output not in ("json", "csv"):
        raise InvalidRequest("'format' must be json or csv.", param="format")
    tag = query.get("tag")
    return by, time_param(query, "since"), time_param(query, "until"), output, None if tag is None else parse_tag(tag)


get_report = admin_endpoint(_report, write=False)
routes = [Route("/api/report", get_report, methods=["GET"])]
