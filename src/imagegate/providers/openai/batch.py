"""OpenAI's Files + Batch API for image requests: one JSONL input file, one output and one error file.

Wire facts (the ``openai`` SDK's ``files.create(purpose="batch")``, ``batches.create/retrieve/
cancel`` and ``files.content``): an input line is ``{custom_id, method, url, body}``; an output
line ``{id, custom_id, response: {status_code, request_id, body}, error}``; a line the provider
never ran (expired, cancelled) is in the error file with ``response: null`` and ``error.code``.
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

COMPLETION_WINDOW = "24h"

_STATES: dict[str, BatchState] = {
    "validating": "running",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "running",
    "completed": "completed",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}


def _json(response: WireResponse, what: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(checked(response, what).body)
    except orjson.JSONDecodeError as exc:
        raise BatchError(f"{what}: the provider's answer is not JSON", response) from exc
    if not isinstance(parsed, dict):
        raise BatchError(f"{what}: the provider's answer is not an object", response)
    return parsed


def _line(key: str, wire: WireRequest, base: str) -> bytes:
    if wire.content is None or not wire.url.startswith(base):
        raise BatchError("only JSON image requests can go through the OpenAI Batch API")
    # The batch ``url`` is the path under the API root (``/v1/images/generations``).
    line = {
        "custom_id": key,
        "method": wire.method,
        "url": "/v1" + wire.url[len(base) :],
        "body": orjson.loads(wire.content),
    }
    return orjson.dumps(line)


class OpenAIBatchApi(BatchApi):
    """``POST /files`` + ``POST /batches``; ``GET /batches/{id}``; ``GET /files/{id}/content``."""

    def __init__(self, headers: Callable[[RouteTarget], dict[str, str]]) -> None:
        # The adapter's header builder (bearer key, organization, project).
        self._headers = headers

    def _request(self, route: RouteTarget, method: str, path: str, **kwargs: Any) -> WireRequest:
        return WireRequest(method, route.base_url.rstrip("/") + path, dict(self._headers(route)), **kwargs)

    async def submit(self, lines: Sequence[BatchLine], route: RouteTarget, send: Send) -> str:
        """Upload the JSONL input file, then create the batch on the lines' endpoint."""
        base = route.base_url.rstrip("/")
        body = b"\n".join(_line(line.key, line.wire, base) for line in lines) + b"\n"
        endpoints = {"/v1" + line.wire.url[len(base) :] for line in lines}
        if len(endpoints) != 1:
            raise BatchError("a batch holds requests for one endpoint only")
        upload = self._request(
            route,
            "POST",
            "/files",
            form=[("purpose", "batch")],
            files=[("file", ("batch.jsonl", body, "application/jsonl"))],
        )
        file_id = _json(await send(upload), "uploading the batch input file").get("id")
        if not isinstance(file_id, str):
            raise BatchError("the uploaded batch file has no id")
        create = self._request(
            route,
            "POST",
            "/batches",
            content=orjson.dumps(
                {"input_file_id": file_id, "endpoint": endpoints.pop(), "completion_window": COMPLETION_WINDOW}
            ),
        )
        create.headers["content-type"] = "application/json"
        batch_id = _json(await send(create), "creating the batch").get("id")
        if not isinstance(batch_id, str):
            raise BatchError("the created batch has no id")
        return batch_id

    async def _batch(self, batch_id: str, route: RouteTarget, send: Send) -> dict[str, Any]:
        return _json(await send(self._request(route, "GET", f"/batches/{batch_id}")), "reading the batch")

    @staticmethod
    def _status(batch: dict[str, Any]) -> BatchStatus:
        provider_state = str(batch.get("status"))
        state = _STATES.get(provider_state)
        if state is None:
            raise BatchError(f"the batch has an unknown status {provider_state!r}")
        files = (batch.get("output_file_id"), batch.get("error_file_id"))
        return BatchStatus(state, provider_state, has_results=state != "running" and files != (None, None))

    async def status(self, batch_id: str, route: RouteTarget, send: Send) -> BatchStatus:
        """``GET /batches/{id}``."""
        return self._status(await self._batch(batch_id, route, send))

    async def answers(self, batch_id: str, route: RouteTarget, send: Send) -> list[LineAnswer]:
        """Both files' lines, each as the line's own HTTP answer (or ``not_run`` with the error code)."""
        batch = await self._batch(batch_id, route, send)
        answers: list[LineAnswer] = []
        for field in ("output_file_id", "error_file_id"):
            file_id = batch.get(field)
            if not isinstance(file_id, str):
                continue
            content = checked(await send(self._request(route, "GET", f"/files/{file_id}/content")), "downloading")
            for raw in content.body.splitlines():
                if raw.strip():
                    answers.append(_answer(raw))
        return answers

    async def cancel(self, batch_id: str, route: RouteTarget, send: Send) -> BatchStatus:
        """``POST /batches/{id}/cancel``."""
        cancelled = await send(self._request(route, "POST", f"/batches/{batch_id}/cancel"))
        return self._status(_json(cancelled, "cancelling the batch"))


def _answer(raw: bytes) -> LineAnswer:
    try:
        line = orjson.loads(raw)
        key = str(line["custom_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise BatchError("a batch output line is not a JSON object with a custom_id") from exc
    response = line.get("response")
    if isinstance(response, dict) and isinstance(response.get("status_code"), int):
        request_id = response.get("request_id")
        headers = {} if not isinstance(request_id, str) else {"x-request-id": request_id}
        return LineAnswer(key, WireResponse(response["status_code"], headers, orjson.dumps(response.get("body"))))
    error = line.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    body = orjson.dumps({"error": error})
    return LineAnswer(key, WireResponse(0, {}, body), not_run=str(code) if code is not None else "not_run")
