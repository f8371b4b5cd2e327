"""The batch API (imagegate's own, in the OpenAI dialect's auth and error shape; docs/batch.md).

    POST /v1/imagegate/batches?model=ALIAS     body: the JSONL batch file -> the batch
    GET  /v1/imagegate/batches/{id}            polls the provider -> the batch (settled once final)
    POST /v1/imagegate/batches/{id}/cancel     -> the batch
    GET  /v1/imagegate/batches/{id}/results    -> {"object": "list", "data": [per request: custom_id,
                                                  status, error, cost_micros, images]}

A result's images go through the gateway's image storage when it has one (``{url, expires_at}``,
kept for the caller's retention), else inline (``{b64_json}``): one seam, ``service.batches.ResultSink``.

A client key sees only the batches it submitted (any other id is 404); the master key sees all.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.auth import Principal
from imagegate.api.admin.auth import master_key_matches
from imagegate.api.http import bearer_token, new_request_id, read_body
from imagegate.api.openai.batch_file import parse_batch_file
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.service.batches import BatchNotFound, BatchService, batch_view
from imagegate.service.gateway import Gateway
from imagegate.service.image_storage import ImageStorage


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _not_found(message: str, request_id: str) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": "batch_id", "code": "not_found"}}
    return Response(
        orjson.dumps(body), status_code=404, media_type="application/json", headers={"x-request-id": request_id}
    )


async def _caller(request: Request) -> Principal | None:
    """The client key's principal; None for the master key (sees every batch)."""
    token = bearer_token(request)
    if master_key_matches(request, token):
        return None
    gateway: Gateway = request.app.state.gateway
    return await gateway.authenticate(token)


def _handler(work: Callable[[Request, BatchService, Principal | None], Awaitable[Response]]) -> Any:
    async def endpoint(request: Request) -> Response:
        request_id = new_request_id()
        try:
            service: BatchService | None = request.app.state.batches
            if service is None:
                raise InvalidRequest("Batches are not enabled on this gateway.")
            return await work(request, service, await _caller(request))
        except BatchNotFound as error:
            return _not_found(error.message, request_id)
        except ImagegateError as error:
            return error_response(error, request_id)

    return endpoint


async def _owned(request: Request, service: BatchService, caller: Principal | None) -> str:
    """The path's batch id, once the caller may see it (someone else's batch is as good as missing)."""
    batch_id = str(request.path_params["batch_id"])
    record = await service.get(batch_id)
    if caller is not None and record.key_id != caller.key_id:
        raise BatchNotFound(f"No batch with id '{batch_id}'.", param="batch_id")
    return batch_id


async def _submit(request: Request, service: BatchService, caller: Principal | None) -> Response:
    if caller is None:
        raise InvalidRequest("Submit batches with a client key (the master key has no ledger identity).")
    model = request.query_params.get("model")
    if model is None or model == "":
        raise InvalidRequest("Missing required parameter: 'model' (a query parameter).", param="model")
    gateway: Gateway = request.app.state.gateway
    inputs = parse_batch_file(await read_body(request, gateway.limits.max_body_bytes), gateway.limits)
    return _json(batch_view(await service.submit(inputs, model, caller)))


async def _status(request: Request, service: BatchService, caller: Principal | None) -> Response:
    return _json(batch_view(await service.refresh(await _owned(request, service, caller))))


async def _cancel(request: Request, service: BatchService, caller: Principal | None) -> Response:
    return _json(batch_view(await service.cancel(await _owned(request, service, caller))))


async def _results(request: Request, service: BatchService, caller: Principal | None) -> Response:
    batch_id = await _owned(request, service, caller)
    images: dict[str, list[dict[str, Any]]] = {}
    storage: ImageStorage | None = request.app.state.image_storage
    team = None if caller is None else caller.team_name
    owner = None if caller is None else f"key-{caller.key_id}"

    async def collect(name: str, data: bytes, content_type: str) -> None:
        custom_id, _, ext = name.rpartition("-")  # "{custom_id}-{i}.{ext}"
        found = images.setdefault(custom_id, [])
        if storage is None:
            found.append({"b64_json": base64.b64encode(data).decode(), "mime_type": content_type})
            return
        # Keys are ours (a custom_id may hold any character): the batch id and a running number.
        key = f"batches/{batch_id}/{sum(len(listed) for listed in images.values())}-{ext}"
        expires_at = storage.retained_until(team)
        stored = await storage.store.put(key, data, content_type=content_type, expires_at=expires_at, owner=owner)
        found.append({"url": stored.url, "expires_at": int(stored.expires_at.timestamp()), "mime_type": content_type})

    summary = await service.results(batch_id, collect)
    data = [{**item, "images": images.get(item["custom_id"], [])} for item in summary]
    return _json({"object": "list", "data": data})


routes = [
    Route("/v1/imagegate/batches", _handler(_submit), methods=["POST"]),
    Route("/v1/imagegate/batches/{batch_id}", _handler(_status), methods=["GET"]),
    Route("/v1/imagegate/batches/{batch_id}/cancel", _handler(_cancel), methods=["POST"]),
    Route("/v1/imagegate/batches/{batch_id}/results", _handler(_results), methods=["GET"]),
]
