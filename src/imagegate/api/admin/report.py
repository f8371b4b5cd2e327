"""``GET /api/report?by=model|route|key&since=...&until=...[&tag=name=value][&format=csv]``: spend and acceptance.

Admin only, with the same master-key check as ``/admin/keys`` (``api.admin_auth``: 404 when no
master key is configured, 401 without it). The JSON and CSV shapes are
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
from imagegate.api.admin.auth import AdminDisabled, require_master_key
from imagegate.api.http import new_request_id
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.domain.tags import parse_tag
from imagegate.service.report import build_report, parse_when


async def get_report(request: Request) -> Response:
    """``GET /api/report``."""
    request_id = new_request_id()
    state = request.app.state
    try:
        require_master_key(request)
        by, since, until, output, tag = _query(request)
    except AdminDisabled as error:
        response = error_response(error, request_id)
        response.status_code = 404
        return response
    except ImagegateError as error:
        return error_response(error, request_id)
    report = await anyio.to_thread.run_sync(lambda: build_report(state.reports, by, since=since, until=until, tag=tag))
    headers = {"x-request-id": request_id}
    if output == "csv":
        headers["content-disposition"] = f'attachment; filename="imagegate-report-by-{by}.csv"'
        return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(orjson.dumps(report.as_dict()), media_type="application/json", headers=headers)


def _query(request: Request) -> tuple[ReportDimension, datetime | None, datetime | None, str, tuple[str, str] | None]:
    query = request.query_params
    by = query.get("by", "model")
    if by not in DIMENSIONS:
        raise InvalidRequest(f"'by' must be one of {', '.join(DIMENSIONS)}.", param="by")
    times: list[datetime | None] = []
    for name in ("since", "until"):
        try:
            times.append(parse_when(query.get(name)))
        except ValueError as exc:
            raise InvalidRequest(f"'{name}': {exc}", param=name) from None
    output = query.get("format", "json")
    if output not in ("json", "csv"):
        raise InvalidRequest("'format' must be json or csv.", param="format")
    tag = query.get("tag")
    return by, times[0], times[1], output, None if tag is None else parse_tag(tag)


routes = [Route("/api/report", get_report, methods=["GET"])]
