"""``GET /api/pricing``: the catalog as this gateway prices it, plus a One API / New API subset
(the document is ``service.pricing_catalog.pricing_document``; docs/pricing.md, "Pricing API").

Route health fields come from smoke-test verdicts and this replica's live traffic (docs/routing.md).

Public by default (prices are not secrets); ``IMAGEGATE_PUBLIC_PRICING=false`` requires a key.
Live route health (smoke verdicts, this replica's traffic) is operational detail: without a key,
rows show only what the catalog says (``unknown``, or ``retired`` past the shutdown date) unless
``IMAGEGATE_PUBLIC_ROUTE_HEALTH=true``.
"""

from __future__ import annotations

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.api.http import bearer_token, new_request_id
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import ImagegateError
from imagegate.service.pricing_catalog import pricing_document


async def get_pricing(request: Request) -> Response:
    """``GET /api/pricing``; live route health only for a caller with a key, unless made public."""
    state = request.app.state
    keyed = False
    if not state.public_pricing or not state.public_route_health:
        try:
            await state.gateway.authenticate(bearer_token(request))
            keyed = True
        except ImagegateError as error:
            if not state.public_pricing:
                return error_response(error, new_request_id())
    routing = getattr(state, "routing", None)
    statuses = None
    if routing is not None and (keyed or state.public_route_health):
        health = getattr(getattr(state, "runtime", None), "health", None)
        statuses = await anyio.to_thread.run_sync(routing.statuses, health)
    document = pricing_document(state.catalog, state.gateway.routes, state.today(), statuses)
    return Response(orjson.dumps(document), media_type="application/json")


routes = [Route("/api/pricing", get_pricing, methods=["GET"])]
