"""Admin API for virtual keys: ``/admin/keys`` (create, list) and ``/admin/keys/{name}`` (revoke)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.ports import DuplicateKeyName
from imagegate.api.admin.auth import AdminDisabled, require_master_key
from imagegate.api.http import new_request_id
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.service.keys import KeyAdmin, key_view


class NewKeyBody(BaseModel):
    """``POST /admin/keys`` body."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    models: list[StrictStr] | None = None
    expires_at: datetime | None = None


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _admin(request: Request) -> KeyAdmin:
    admin: KeyAdmin = request.app.state.key_admin
    return admin


async def _guarded(request: Request, handler: Callable[[Request], Awaitable[Response]]) -> Response:
    request_id = new_request_id()
    try:
        require_master_key(request)
        response = await handler(request)
    except AdminDisabled as error:
        status_response = error_response(error, request_id)
        status_response.status_code = 404
        return status_response
    except ImagegateError as error:
        return error_response(error, request_id)
    response.headers["x-request-id"] = request_id
    return response


async def _create(request: Request) -> Response:
    try:
        body = NewKeyBody.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param) from None
    if body.name.strip() == "":
        raise InvalidRequest("'name' must not be empty.", param="name")
    try:
        created = await anyio.to_thread.run_sync(_admin(request).create, body.name, body.models, body.expires_at)
    except DuplicateKeyName:
        raise InvalidRequest(f"A key named '{body.name}' already exists.", param="name") from None
    return _json({**key_view(created.record), "key": created.secret}, status=201)


async def _list(request: Request) -> Response:
    records = await anyio.to_thread.run_sync(_admin(request).list)
    return _json({"object": "list", "data": [key_view(record) for record in records]})


async def _revoke(request: Request) -> Response:
    name = request.path_params["name"]
    if not await anyio.to_thread.run_sync(_admin(request).revoke, name):
        raise InvalidRequest(f"No active key named '{name}'.", param="name")
    return _json({"name": name, "revoked": True})


async def keys_collection(request: Request) -> Response:
    """``GET`` lists keys; ``POST`` creates one and returns its secret once."""
    return await _guarded(request, _create if request.method == "POST" else _list)


async def key_item(request: Request) -> Response:
    """``DELETE`` revokes the named key."""
    return await _guarded(request, _revoke)


routes = [
    Route("/admin/keys", keys_collection, methods=["GET", "POST"]),
    Route("/admin/keys/{name}", key_item, methods=["DELETE"]),
]
