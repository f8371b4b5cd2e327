"""OpenAI Files + Batch routes for image requests: ``/v1/files``, ``/v1/batches`` (see sandbox.batches).

``POST /v1/files`` (multipart ``purpose=batch``, ``file``), ``GET /v1/files/{id}/content``,
``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window: "24h"``),
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``. Lines that answered 2xx go to the
output file, the others to the error file, in the shapes of the ``openai`` SDK's ``BatchRequestOutput``.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.sandbox.batches import SandboxBatch, SubRequest
from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.openai_images import check_auth, error_response
from imagegate.sandbox.openai_models import OpenAIError

__all__ = ["openai_batch_routes"]

ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")
_STATUS = {"running": "in_progress", "cancelling": "cancelling"}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _lines(content: bytes, endpoint: str, headers: dict[str, str]) -> list[SubRequest]:
    lines: list[SubRequest] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise OpenAIError(
                400, f"Line {number} of the input file is not valid JSON.", code="invalid_json_line"
            ) from None
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            raise OpenAIError(400, f"Line {number} has no 'custom_id'.", code="missing_custom_id")
        if line["custom_id"] in seen:
            raise OpenAIError(
                400, f"Line {number} repeats custom_id {line['custom_id']!r}.", code="duplicate_custom_id"
            )
        if line.get("url") != endpoint or line.get("method") != "POST":
            raise OpenAIError(400, f"Line {number}: 'url' must be {endpoint} with method POST.", code="mismatched_url")
        seen.add(line["custom_id"])
        lines.append(SubRequest(line["custom_id"], "POST", endpoint, headers, orjson.dumps(line.get("body"))))
    if not lines:
        raise OpenAIError(400, "The input file holds no requests.", code="empty_file")
    return lines


def _store_file(state: SandboxState, content: bytes, purpose: str, filename: str) -> dict[str, Any]:
    file_id = "file-" + secrets.token_hex(12)
    state.batches.files[file_id] = content
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": 0,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def _output_files(state: SandboxState, batch: SandboxBatch) -> None:
    """Write the output and error files once the batch is final (unrun lines: ``batch_expired``...)."""
    if batch.finished_at is None or "output_file_id" in batch.meta or "error_file_id" in batch.meta:
        return
    ok: list[bytes] = []
    failed: list[bytes] = []
    for line in batch.lines:
        answer = batch.answers.get(line.key)
        item: dict[str, Any] = {"id": "batch_req_" + secrets.token_hex(12), "custom_id": line.key}
        if answer is None:
            code = "batch_expired" if batch.state == "expired" else "batch_cancelled"
            item |= {"response": None, "error": {"code": code, "message": f"This request was not run ({code})."}}
            failed.append(orjson.dumps(item))
            continue
        body = orjson.loads(answer.body) if answer.body else None
        item |= {
            "response": {"status_code": answer.status, "request_id": answer.request_id, "body": body},
            "error": None,
        }
        (ok if answer.status < 300 else failed).append(orjson.dumps(item))
    for name, rows in (("output_file_id", ok), ("error_file_id", failed)):
        if rows:
            batch.meta[name] = _store_file(state, b"\n".join(rows) + b"\n", "batch_output", f"{name}.jsonl")["id"]


def _batch_body(batch: SandboxBatch) -> dict[str, Any]:
    failed = sum(1 for answer in batch.answers.values() if answer.status >= 300)
    stamp = batch.finished_at
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.meta["endpoint"],
        "errors": None,
        "input_file_id": batch.meta["input_file_id"],
        "completion_window": "24h",
        "status": _STATUS.get(batch.state, batch.state),
        "output_file_id": batch.meta.get("output_file_id"),
        "error_file_id": batch.meta.get("error_file_id"),
        "created_at": batch.created_at,
        "in_progress_at": batch.created_at,
        "expires_at": batch.created_at + 86_400,
        "completed_at": stamp if batch.state == "completed" else None,
        "expired_at": stamp if batch.state == "expired" else None,
        "cancelled_at": stamp if batch.state == "cancelled" else None,
        "request_counts": {"total": len(batch.lines), "completed": len(batch.answers) - failed, "failed": failed},
        "metadata": None,
    }


def openai_batch_routes(state: SandboxState) -> list[Route]:
    """The Files + Batch routes bound to ``state``."""

    async def guarded(request: Request, handler: Any) -> Response:
        record = state.requests.start(
            str(request.scope.get("state", {}).get("request_id", "")), request.method, request.url.path
        )
        try:
            check_auth(state, request)
            response: Response = await handler(request)
        except OpenAIError as error:
            response = error_response(error)
        record.status = response.status_code
        return response

    def batch_of(request: Request) -> SandboxBatch:
        batch = state.batches.batches.get(request.path_params["batch_id"])
        if batch is None or "endpoint" not in batch.meta:
            raise OpenAIError(404, f"No batch found with id '{request.path_params['batch_id']}'.", code="not_found")
        return batch

    async def upload(request: Request) -> Response:
        async with request.form() as form:
            purpose, upload = form.get("purpose"), form.get("file")
            if purpose != "batch" or not isinstance(upload, UploadFile):
                raise OpenAIError(400, "Send 'purpose=batch' and a 'file'.", param="purpose")
            return _json(_store_file(state, await upload.read(), "batch", upload.filename or "batch.jsonl"))

    async def content(request: Request) -> Response:
        found = state.batches.files.get(request.path_params["file_id"])
        if found is None:
            raise OpenAIError(404, f"No such File object: {request.path_params['file_id']}", code="not_found")
        return Response(found, media_type="application/jsonl")

    async def create(request: Request) -> Response:
        try:
            fields = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise OpenAIError(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(fields, dict):
            raise OpenAIError(400, "The request body must be a JSON object.")
        endpoint = fields.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise OpenAIError(400, f"Invalid value for 'endpoint': {endpoint!r}.", param="endpoint")
        if fields.get("completion_window") != "24h":
            raise OpenAIError(400, "Invalid value for 'completion_window': only '24h'.", param="completion_window")
        file_id = fields.get("input_file_id")
        content = state.batches.files.get(file_id) if isinstance(file_id, str) else None
        if content is None:
            raise OpenAIError(404, f"No such File object: {file_id}", param="input_file_id", code="not_found")
        headers = {"authorization": request.headers["authorization"], "content-type": "application/json"}
        batch = state.batches.add("batch_", _lines(content, endpoint, headers), state.config.batch_polls)
        batch.meta |= {"endpoint": str(endpoint), "input_file_id": str(file_id)}
        return _json(_batch_body(batch))

    async def retrieve(request: Request) -> Response:
        batch = await state.batches.read(batch_of(request), request.app)
        _output_files(state, batch)
        return _json(_batch_body(batch))

    async def cancel(request: Request) -> Response:
        return _json(_batch_body(state.batches.cancel(batch_of(request))))

    def route(path: str, handler: Any, method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)

        return Route(path, endpoint, methods=[method])

    return [
        route("/v1/files", upload, "POST"),
        route("/v1/files/{file_id}/content", content, "GET"),
        route("/v1/batches", create, "POST"),
        route("/v1/batches/{batch_id}", retrieve, "GET"),
        route("/v1/batches/{batch_id}/cancel", cancel, "POST"),
    ]
