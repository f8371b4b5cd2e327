"""Gemini API ``batchGenerateContent`` with inline requests (not on Vertex AI, whose batch jobs differ).

Wire facts (google-genai's ``batches`` module, mldev): ``POST /{version}/models/{model}:batchGenerateContent``
with ``{"batch": {"displayName", "inputConfig": {"requests": {"requests": [{"request", "metadata":
{"key"}}]}}}}`` answers an operation named ``batches/{id}`` whose ``metadata`` is the batch
(``state``: ``BATCH_STATE_PENDING|RUNNING|SUCCEEDED|FAILED|CANCELLED|EXPIRED``; when done,
``output.inlinedResponses.inlinedResponses``: per line ``response`` or ``error`` (a ``google.rpc.Status``)
and its ``metadata``). ``GET /{version}/batches/{id}``; ``POST /{version}/batches/{id}:cancel``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.batch import (
    BatchApi,
    BatchError,
    BatchLine,
    BatchState,
    BatchStatus,
    LineAnswer,
    Send,
    checked,
)

_STATES: dict[str, BatchState] = {
    "BATCH_STATE_PENDING": "running",
    "BATCH_STATE_RUNNING": "running",
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired",
}

# google.rpc.Code -> the HTTP status Google answers it with, so a line's error maps like a plain call's.
_HTTP_OF_CODE = {3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 9: 400, 11: 400, 13: 500, 14: 503, 16: 401}


def _json(response: WireResponse, what: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(checked(response, what).body)
    except orjson.JSONDecodeError as exc:
        raise BatchError(f"{what}: the provider's answer is not JSON", response) from exc
    if not isinstance(parsed, dict):
        raise BatchError(f"{what}: the provider's answer is not an object", response)
    return parsed


class GeminiBatchApi(BatchApi):
    """Inline batches on the Gemini API; ``url`` builds ``{base}/{version}/{path}`` for a route."""

    def __init__(
        self, url: Callable[[RouteTarget, str], str], headers: Callable[[RouteTarget], dict[str, str]]
    ) -> None:
        self._url = url
        self._headers = headers

    def _request(self, route: RouteTarget, method: str, path: str, body: Any = None) -> WireRequest:
        headers = dict(self._headers(route))
        content = None
        if body is not None:
            headers["content-type"] = "application/json"
            content = orjson.dumps(body)
        return WireRequest(method, self._url(route, path), headers, content=content)

    async def submit(self, lines: Sequence[BatchLine], route: RouteTarget, send: Send) -> str:
        """One ``batchGenerateContent`` call carrying every line inline."""
        requests = []
        for line in lines:
            if line.wire.content is None:
                raise BatchError("only JSON requests can go through the Gemini Batch API")
            requests.append({"request": orjson.loads(line.wire.content), "metadata": {"key": line.key}})
        body = {"batch": {"displayName": "imagegate", "inputConfig": {"requests": {"requests": requests}}}}
        created = _json(
            await send(self._request(route, "POST", f"models/{route.model}:batchGenerateContent", body)),
            "creating the batch",
        )
        name = created.get("name")
        if not isinstance(name, str) or not name.startswith("batches/"):
            raise BatchError("the created batch has no name")
        return name.removeprefix("batches/")

    async def _batch(self, batch_id: str, route: RouteTarget, send: Send) -> dict[str, Any]:
        operation = _json(await send(self._request(route, "GET", f"batches/{batch_id}")), "reading the batch")
        metadata = operation.get("metadata")
        if not isinstance(metadata, dict):
            raise BatchError("the batch operation has no metadata")
        return metadata

    @staticmethod
    def _status(batch: dict[str, Any]) -> BatchStatus:
        provider_state = str(batch.get("state"))
        state = _STATES.get(provider_state)
        if state is None:
            raise BatchError(f"the batch has an unknown state {provider_state!r}")
        return BatchStatus(state, provider_state, has_results=isinstance(batch.get("output"), dict))

    async def status(self, batch_id: str, route: RouteTarget, send: Send) -> BatchStatus:
        """``GET batches/{id}``."""
        return self._status(await self._batch(batch_id, route, send))

    async def answers(self, batch_id: str, route: RouteTarget, send: Send) -> list[LineAnswer]:
        """The inlined responses, each as the line's own ``generateContent`` answer."""
        output = (await self._batch(batch_id, route, send)).get("output")
        inlined = output.get("inlinedResponses") if isinstance(output, dict) else None
        items = inlined.get("inlinedResponses") if isinstance(inlined, dict) else None
        if not isinstance(items, list):
            return []
        return [_answer(item) for item in items if isinstance(item, dict)]

    async def cancel(self, batch_id: str, route: RouteTarget, send: Send) -> BatchStatus:
        """``POST batches/{id}:cancel``, then the state it left."""
        checked(await send(self._request(route, "POST", f"batches/{batch_id}:cancel", {})), "cancelling the batch")
        return await self.status(batch_id, route, send)


def _answer(item: dict[str, Any]) -> LineAnswer:
    metadata = item.get("metadata")
    key = metadata.get("key") if isinstance(metadata, dict) else None
    if not isinstance(key, str):
        raise BatchError("a batch response has no metadata.key")
    response = item.get("response")
    if isinstance(response, dict):
        return LineAnswer(key, WireResponse(200, {}, orjson.dumps(response)))
    error = item.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    status = _HTTP_OF_CODE.get(code, 500) if isinstance(code, int) else 500
    body = {"error": {"code": status, "message": error.get("message", ""), "status": error.get("status", "UNKNOWN")}}
    return LineAnswer(key, WireResponse(status, {}, orjson.dumps(body)))
