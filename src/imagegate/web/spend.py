"""``GET /console/spend`` and ``/console/spend.csv``: spend by key, model or route for a period.

The figures are ``service.report.build_report``'s, the very function behind ``imagegate report``
and ``/api/report``, so the page, its CSV and the report agree to the micro-dollar.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from imagegate.accounting.reports import DIMENSIONS, ReportDimension
from imagegate.service.overview import month_start
from imagegate.service.report import COLUMNS, Report, build_report, parse_when
from imagegate.web.auth import page
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps


def _query(request: Request) -> tuple[ReportDimension, datetime | None, datetime | None, str | None]:
    """The period and grouping asked for, and what was wrong with the request (if anything)."""
    query = request.query_params
    by: ReportDimension = next((d for d in DIMENSIONS if d == query.get("by")), "model")
    now = datetime.now(UTC)
    problem = None
    try:
        since = parse_when(query.get("since"), now) if "since" in query else month_start(now)
        until = parse_when(query.get("until"), now)
    except ValueError as exc:
        since, until, problem = month_start(now), None, str(exc)
    return by, since, until, problem


async def _report(request: Request) -> tuple[Report, str | None]:
    by, since, until, problem = _query(request)
    reports = deps(request).reports
    report = await anyio.to_thread.run_sync(lambda: build_report(reports, by, since=since, until=until))
    return report, problem


def _value(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


async def _spend(request: Request, session: ConsoleSession) -> Response:
    report, problem = await _report(request)
    query = f"by={report.by}&since={_value(report.since)}&until={_value(report.until)}"
    return render(
        request,
        "spend.html",
        session,
        active="spend",
        title="Spend",
        report=report,
        rows=report.rows(),
        total=report.as_dict()["total"],
        columns=COLUMNS,
        dimensions=DIMENSIONS,
        since=_value(report.since),
        until=_value(report.until),
        problem=problem,
        csv_href="/console/spend.csv?" + query.replace("+", "%2B"),
        api_href="/api/report?" + query.replace("+", "%2B"),
    )


async def _spend_csv(request: Request, session: ConsoleSession) -> Response:
    report, _ = await _report(request)
    headers = {
        "content-disposition": f'attachment; filename="imagegate-spend-by-{report.by}.csv"',
        "cache-control": "no-store",
    }
    return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers=headers)


spend = page(_spend)
spend_csv = page(_spend_csv)
