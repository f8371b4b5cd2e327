"""``GET /console/overview``: spend today and this month, images, success, latency, charts, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
import orjson
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from imagegate.service.overview import WINDOWS, Window, build_overview, chart_data
from imagegate.web.auth import page
from imagegate.web.render import render
from imagegate.web.session import ConsoleSession
from imagegate.web.state import deps


def _window(request: Request) -> Window:
    raw = request.query_params.get("window", "24h")
    for window in WINDOWS:
        if window == raw:
            return window
    return "24h"


async def _overview(request: Request, session: ConsoleSession) -> Response:
    console = deps(request)
    window = _window(request)
    now = datetime.now(UTC)
    overview = await anyio.to_thread.run_sync(
        lambda: build_overview(console.reports, console.insights, now=now, window=window)
    )
    by_model = chart_data(overview.series, "model")
    by_route = chart_data(overview.series, "route")
    by_team = chart_data(overview.series, "team")
    charts = {
        "spend-by-team": {**by_team, "field": "spend_micros", "unit": "USD"},
        "spend-by-model": {**by_model, "field": "spend_micros", "unit": "USD"},
        "images-by-route": {**by_route, "field": "images", "unit": "images"},
    }
    # "</" cannot occur in orjson's output of these values except inside strings; escape it anyway
    # so a model name can never close the script element.
    embedded = Markup(orjson.dumps(charts).decode().replace("</", "<\\/"))
    return render(
        request,
        "overview.html",
        session,
        active="overview",
        title="Overview",
        o=overview,
        windows=list(WINDOWS),
        by_model=by_model,
        by_route=by_route,
        by_team=by_team,
        charts_json=embedded,
    )


overview = page(_overview)
