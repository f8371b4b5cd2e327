"""``GET /readyz``: 200 when the database (and Redis, when configured) answer; 503 otherwise.

Distinct from ``GET /healthz`` (liveness: the process is up): a load balancer takes a replica
whose dependencies are down out of rotation without restarting it.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.service.readiness import Readiness, ReadinessReport


async def readyz(request: Request) -> Response:
    """``GET /readyz``: each dependency's state; 503 while any is unavailable."""
    readiness: Readiness | None = request.app.state.readiness
    report = ReadinessReport({}) if readiness is None else await readiness.report()
    body = {"status": "ready" if report.ready else "unavailable", "checks": report.checks}
    return Response(orjson.dumps(body), status_code=200 if report.ready else 503, media_type="application/json")


routes = [Route("/readyz", readyz, methods=["GET"])]
