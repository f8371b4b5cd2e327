"""Admin API for virtual keys: ``/admin/keys`` (create, list) and ``/admin/keys/{name}`` (revoke)."""

from __future__ import annotations

from datetime import datetime

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, StrictStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.ports import DuplicateKeyName
from imagegate.api.admin.access import admin_endpoint, read_or_write
from imagegate.api.admin.params import parse_body
from imagegate.domain.errors import InvalidRequest
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


async def _create(request: Request) -> Response:
    body = parse_body(NewKeyBody, await request.body())
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


# ``GET`` lists keys; ``POST`` creates one and returns its secret once; ``DELETE`` revokes.
keys_collection = read_or_write(_list, _create)
key_item = admin_endpoint(_revoke, write=True)


routes = [
    Route("/admin/keys", keys_collection, methods=["GET", "POST"]),
    Route("/admin/keys/{name}", key_item, methods=["DELETE"]),
]
