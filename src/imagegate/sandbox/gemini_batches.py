"""Gemini API batch routes with inline requests (see sandbox.batches).

``POST /{version}/models/{model}:batchGenerateContent`` answers an operation named
``batches/{id}``; ``GET /{version}/batches/{id}`` the operation with the batch in ``metadata``
(``state`` ``BATCH_STATE_*``; when final, ``output.inlinedResponses.inlinedResponses``: per line
``response`` or ``error`` (a ``google.rpc.Status``) with the line's ``metadata``);
``POST /{version}/batches/{id}:cancel`` answers ``{}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.sandbox.batches import SandboxBatch, SubRequest
from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.gemini_auth import check_api_key
from imagegate.sandbox.gemini_models import GoogleError
from imagegate.sandbox.google_faults import google_error_response

__all__ = ["gemini_batch_routes"]

# The batch API is on v1beta only (and ``/v1/batches`` is OpenAI's in the shared sandbox).
_VERSION = "v1beta"
_STATES = {
    "running": "BATCH_STATE_RUNNING",
    "cancelling": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelled": "BATCH_STATE_CANCELLED",
}
# HTTP status -> google.rpc.Code, so a line's error carries the code a plain call's status implies.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14, 504: 4}
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _inline_lines(fields: Any, path: str, headers: dict[str, str]) -> list[SubRequest]:
    batch = fields.get("batch") if isinstance(fields, dict) else None
    config = batch.get("inputConfig") if isinstance(batch, dict) else None
    requests = config.get("requests") if isinstance(config, dict) else None
    items = requests.get("requests") if isinstance(requests, dict) else None
    if not isinstance(items, list) or not items:
        raise GoogleError(400, "INVALID_ARGUMENT", "batch.inputConfig.requests.requests must hold requests.")
    lines: list[SubRequest] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
            raise GoogleError(400, "INVALID_ARGUMENT", f"requests[{index}].request must be an object.")
        metadata = item.get("metadata")
        key = metadata.get("key") if isinstance(metadata, dict) else None
        lines.append(
            SubRequest(str(key if key is not None else index), "POST", path, headers, orjson.dumps(item["request"]))
        )
    return lines


def _line_output(batch: SandboxBatch, line: SubRequest) -> dict[str, Any]:
    answer = batch.answers[line.key]
    body = orjson.loads(answer.body) if answer.body else {}
    item: dict[str, Any] = {"metadata": {"key": line.key}}
    if answer.status < 300:
        item["response"] = body
    else:
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        item["error"] = {"code": _RPC_CODES.get(answer.status, 2), "message": str(error.get("message", ""))}
    return item


def _operation(batch: SandboxBatch) -> dict[str, Any]:
    name = f"batches/{batch.id}"
    metadata: dict[str, Any] = {
        "@type": _BATCH_TYPE,
        "name": name,
        "model": batch.meta["model"],
        "displayName": batch.meta["display_name"],
        "state": _STATES[batch.state],
        "batchStats": {"requestCount": str(len(batch.lines))},
    }
    operation: dict[str, Any] = {"name": name, "metadata": metadata}
    if batch.finished_at is not None:
        operation["done"] = True
        if batch.state == "completed":
            lines = [_line_output(batch, line) for line in batch.lines]
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": lines}}
    return operation


def gemini_batch_routes(state: SandboxState) -> list[Route]:
    """The Gemini API batch routes bound to ``state`` (listed before the model routes)."""

    def batch_of(request: Request) -> SandboxBatch:
        batch = state.batches.batches.get(request.path_params["batch_id"])
        if batch is None or "model" not in batch.meta:
            raise GoogleError(404, "NOT_FOUND", f"Batch {request.path_params['batch_id']} not found.")
        return batch

    async def guarded(request: Request, handler: Any) -> Response:
        record = state.requests.start(
            str(request.scope.get("state", {}).get("request_id", "")), request.method, request.url.path
        )
        try:
            if request.path_params.get("version", _VERSION) != _VERSION:
                raise GoogleError(404, "NOT_FOUND", "The batch API is served on v1beta only.")
            check_api_key(state, request)
            response: Response = await handler(request)
        except GoogleError as error:
            response = google_error_response(error)
        record.status = response.status_code
        return response

    async def create(request: Request) -> Response:
        try:
            fields = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
        version, model = request.path_params["version"], request.path_params["model"]
        headers = {"content-type": "application/json"}
        for name in ("x-goog-api-key",):
            if name in request.headers:
                headers[name] = request.headers[name]
        query = f"?key={request.query_params['key']}" if "key" in request.query_params else ""
        lines = _inline_lines(fields, f"/{version}/models/{model}:generateContent{query}", headers)
        batch = state.batches.add("", lines, state.config.batch_polls)
        display = fields["batch"].get("displayName") or fields["batch"].get("display_name") or batch.id
        batch.meta |= {"model": f"models/{model}", "display_name": str(display)}
        return _json(_operation(batch))

    async def retrieve(request: Request) -> Response:
        return _json(_operation(await state.batches.read(batch_of(request), request.app)))

    async def cancel(request: Request) -> Response:
        state.batches.cancel(batch_of(request))
        return _json({})

    def route(path: str, handler: Any, method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)

        return Route(path, endpoint, methods=[method])

    return [
        route("/{version:str}/models/{model:str}:batchGenerateContent", create, "POST"),
        route(f"/{_VERSION}/batches/{{batch_id:str}}:cancel", cancel, "POST"),
        route(f"/{_VERSION}/batches/{{batch_id:str}}", retrieve, "GET"),
    ]
