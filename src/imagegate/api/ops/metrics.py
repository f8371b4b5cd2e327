"""``GET /metrics``: the Prometheus text exposition (docs/observability.md).

``IMAGEGATE_METRICS`` decides who may read it: ``open`` (anyone, as scrapers expect), ``key`` (the
master key, or a key whose role is ``admin`` or ``admin-read``, as a bearer token), ``off`` (404).
"""

from __future__ import annotations

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.api.admin.auth import master_key_matches
from imagegate.api.http import bearer_token, new_request_id
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import AuthenticationFailed, ClientError, ImagegateError, PermissionDenied
from imagegate.service.gateway import Gateway
from imagegate.telemetry.store_state import StoreCollector
from imagegate.telemetry.wiring import Telemetry

READER_ROLES = frozenset({"admin", "admin-read"})


class MetricsOff(ClientError):
    """``IMAGEGATE_METRICS=off``: the endpoint does not exist."""

    code = "not_found"


async def _check_reader(request: Request) -> None:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationFailed("/metrics needs 'Authorization: Bearer <master key or admin-read key>'.")
    if master_key_matches(request, token):
        return
    gateway: Gateway = request.app.state.gateway
    principal = await gateway.authenticate(token)
    if principal.role not in READER_ROLES:
        raise PermissionDenied("/metrics is readable with the master key or an admin-read key.")


async def metrics(request: Request) -> Response:
    """``GET /metrics``: counters, histograms, route, budget and job gauges in Prometheus' text format."""
    telemetry: Telemetry | None = request.app.state.telemetry
    try:
        if telemetry is None or telemetry.metrics is None:
            raise MetricsOff("Metrics are off (IMAGEGATE_METRICS=off).")
        if telemetry.mode == "key":
            await _check_reader(request)
    except ImagegateError as error:
        response = error_response(error, new_request_id())
        if isinstance(error, MetricsOff):
            response.status_code = 404
        return response
    gauges = [] if telemetry.route_state is None else await telemetry.route_state.read()
    live = [] if telemetry.store_state is None else [StoreCollector(await telemetry.store_state.read())]
    # Multiprocess mode reads every worker's files: off the event loop.
    body = await anyio.to_thread.run_sync(telemetry.metrics.exposition, gauges, live)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
