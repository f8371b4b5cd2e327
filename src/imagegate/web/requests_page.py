"""The ledger explorer: ``GET /console/requests`` (search attempts) and
``/console/requests/{request_id}`` (one request's attempts: route, usage in provider units, cost,
latency, error, provider request id)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from imagegate.accounting.insights import ATTEMPT_STATUSES, LedgerSearch
from imagegate.service.report import parse_when
from imagegate.web.auth import page
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_TEXT_FILTERS = ("request_id", "key_name", "team", "model", "route", "error_code")


def _search(request: Request) -> tuple[LedgerSearch, dict[str, str], str | None]:
    query = request.query_params
    values = {name: query.get(name, "").strip() for name in (*_TEXT_FILTERS, "status", "since", "until")}
    problem = None
    now = datetime.now(UTC)
    times: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        try:
            times[name] = parse_when(values[name], now)
        except ValueError as exc:
            times[name], problem = None, f"'{name}': {exc}"
    status = next((s for s in ATTEMPT_STATUSES if s == values["status"]), None)
    search = LedgerSearch(
        **{name: values[name] or None for name in _TEXT_FILTERS},
        status=status,
        since=times["since"],
        until=times["until"],
    )
    return search, values, problem


async def _requests(request: Request, session: ConsoleSession) -> Response:
    search, values, problem = _search(request)
    insights = deps(request).insights
    raw_limit = request.query_params.get("limit", "")
    limit = min(int(raw_limit), MAX_PAGE_SIZE) if raw_limit.isdigit() and int(raw_limit) > 0 else PAGE_SIZE
    entries = await anyio.to_thread.run_sync(lambda: insights.search(search, limit))
    older = None
    if len(entries) == limit:
        # The next page: the same filters, before the oldest attempt shown (``until`` is exclusive).
        until = entries[-1].created_at.isoformat()
        older = "/console/requests?" + urlencode({**values, "until": until, "limit": str(limit)})
    return render(
        request,
        "requests.html",
        session,
        active="requests",
        title="Requests",
        entries=entries,
        values=values,
        statuses=ATTEMPT_STATUSES,
        problem=problem,
        older=older,
        filtered=any(values.values()),
    )


async def _one_request(request: Request, session: ConsoleSession) -> Response:
    request_id = request.path_params["request_id"]
    insights = deps(request).insights
    entries = await anyio.to_thread.run_sync(lambda: insights.search(LedgerSearch(request_id=request_id), 1000))
    entries.sort(key=lambda entry: (entry.created_at, entry.attempt))
    return render(
        request,
        "request.html",
        session,
        active="requests",
        title=f"Request {request_id}",
        request_id=request_id,
        entries=entries,
        total_micros=sum(entry.cost_micros for entry in entries),
        status=200 if entries else 404,
    )


requests_page = page(_requests)
one_request = page(_one_request)
