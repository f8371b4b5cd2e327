"""``Idempotency-Key`` for every dialect: fingerprint the parsed request, run it once, replay it.

Shared by ``api/openai`` and ``api/google`` like ``api/http``: each dialect parses the request
(errors in parsing are answered at once; they cost nothing and replay nothing), then hands the
rest of its work to ``idempotent()`` as a callable producing the dialect's response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from imagegate.accounting.auth import Principal
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.service.gateway import Gateway
from imagegate.service.idempotency import StoredResponse, request_fingerprint

# The headers a replay repeats; hop-by-hop and length headers are recomputed.
REPLAYED_HEADERS = frozenset(
    {
        "x-request-id",
        "x-imagegate-cost-usd",
        "x-imagegate-route",
        "x-imagegate-cost-estimated",
        "x-imagegate-emulated",
        "retry-after",
        "retry-after-ms",
    }
)


def replays_response(request: Request, gateway: Gateway) -> bool:
    """Whether this request's response is kept for replay (so it must be produced whole, not streamed)."""
    return request.headers.get("idempotency-key") is not None and gateway.idempotency is not None


async def idempotent(
    request: Request,
    gateway: Gateway,
    principal: Principal,
    image_request: ImageRequest,
    serve: Callable[[], Awaitable[Response]],
) -> Response:
    """``serve()``'s response, run at most once per (caller, ``Idempotency-Key``) and replayed after.

    Without the header (or with idempotency off) this is just ``serve()``. Raises
    ``IdempotencyConflict`` / ``ResponseUnavailable`` / ``InvalidRequest`` for the dialect to render.
    """
    key = request.headers.get("idempotency-key")
    if key is None or gateway.idempotency is None:
        return await serve()
    if image_request.stream:
        raise InvalidRequest("Idempotency-Key is not supported with streamed responses.", param="Idempotency-Key")

    async def produce() -> StoredResponse:
        response = await serve()
        kept = tuple((name, value) for name, value in response.headers.items() if name in REPLAYED_HEADERS)
        media_type = response.headers.get("content-type", "application/json")
        return StoredResponse(response.status_code, kept, bytes(response.body), media_type)

    fingerprint = request_fingerprint(request.url.path, image_request)
    stored, replayed = await gateway.idempotency.run(str(principal.key_id), key, fingerprint, produce)
    headers = dict(stored.headers)
    if replayed:
        headers["idempotent-replayed"] = "true"
    return Response(stored.body, status_code=stored.status, headers=headers, media_type=stored.media_type)
