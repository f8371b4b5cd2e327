"""Admin API for live routing (master key, like ``/admin/keys``; docs/routing.md).

    GET  /admin/routes                          every alias and route: config, overrides, status, figures
    POST /admin/routes/{route}/disable|enable   stop / resume traffic to a route
    POST /admin/routes/{route}/weight           {"weight": 2.5}
    POST /admin/aliases/{alias}/policy          {"policy": "cheapest"}
    POST /admin/aliases/{alias}/rollback        undo the alias's most recent change
    GET  /admin/routing-changes                 the change log, newest first (?alias=, ?limit=)

Route names contain slashes (``alias/provider/model``): send them URL-encoded or as they are;
both match. The actor logged with a change is ``api``, or ``api:<name>`` when the request
carries ``X-Imagegate-Actor: <name>``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.api.admin.auth import AdminDisabled, require_master_key
from imagegate.api.http import new_request_id
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.service.route_control import (
    NothingToRollBack,
    RoutingAdmin,
    UnknownAlias,
    UnknownRoute,
    change_view,
)

ACTOR_HEADER = "x-imagegate-actor"
M = TypeVar("M", bound=BaseModel)
_STATUS = {AdminDisabled: 404, UnknownRoute: 404, UnknownAlias: 404, NothingToRollBack: 409}


class WeightBody(BaseModel):
    """``POST /admin/routes/{route}/weight`` body."""

    model_config = ConfigDict(extra="forbid")
    weight: StrictInt | StrictFloat


class PolicyBody(BaseModel):
    """``POST /admin/aliases/{alias}/policy`` body."""

    model_config = ConfigDict(extra="forbid")
    policy: StrictStr


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _admin(request: Request) -> RoutingAdmin:
    admin: RoutingAdmin = request.app.state.routing
    return admin


def actor_of(request: Request) -> str:
    """Who made a change, for the log."""
    name = request.headers.get(ACTOR_HEADER, "").strip()
    return "api" if name == "" else f"api:{name[:100]}"


def _parse(model: type[M], raw: bytes) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param) from None


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = new_request_id()
        try:
            require_master_key(request)
            response = await handler(request)
        except ImagegateError as error:
            failed = error_response(error, request_id)
            failed.status_code = next((s for cls, s in _STATUS.items() if isinstance(error, cls)), failed.status_code)
            if error.code == "not_found":
                failed.status_code = 404  # any admin resource that does not exist
            return failed
        response.headers["x-request-id"] = request_id
        return response

    return endpoint


async def _overview(request: Request) -> Response:
    health = getattr(getattr(request.app.state, "runtime", None), "health", None)
    aliases = await anyio.to_thread.run_sync(_admin(request).overview, health)
    return _json({"object": "list", "data": aliases})


async def _disable(request: Request) -> Response:
    change = await anyio.to_thread.run_sync(_admin(request).disable, request.path_params["route"], actor_of(request))
    return _json(change_view(change))


async def _enable(request: Request) -> Response:
    change = await anyio.to_thread.run_sync(_admin(request).enable, request.path_params["route"], actor_of(request))
    return _json(change_view(change))


async def _weight(request: Request) -> Response:
    body = _parse(WeightBody, await request.body())
    change = await anyio.to_thread.run_sync(
        _admin(request).reweight, request.path_params["route"], body.weight, actor_of(request)
    )
    return _json(change_view(change))


async def _policy(request: Request) -> Response:
    body = _parse(PolicyBody, await request.body())
    change = await anyio.to_thread.run_sync(
        _admin(request).set_policy, request.path_params["alias"], body.policy, actor_of(request)
    )
    return _json(change_view(change))


async def _rollback(request: Request) -> Response:
    change = await anyio.to_thread.run_sync(_admin(request).rollback, request.path_params["alias"], actor_of(request))
    return _json(change_view(change))


async def _changes(request: Request) -> Response:
    alias = request.query_params.get("alias")
    raw_limit = request.query_params.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise InvalidRequest("'limit' must be an integer from 1 to 1000.", param="limit")
    changes = await anyio.to_thread.run_sync(lambda: _admin(request).changes(alias=alias, limit=int(raw_limit)))
    return _json({"object": "list", "data": [change_view(change) for change in changes]})


routes = [
    Route("/admin/routes", _guarded(_overview), methods=["GET"]),
    Route("/admin/routes/{route:path}/disable", _guarded(_disable), methods=["POST"]),
    Route("/admin/routes/{route:path}/enable", _guarded(_enable), methods=["POST"]),
    Route("/admin/routes/{route:path}/weight", _guarded(_weight), methods=["POST"]),
    Route("/admin/aliases/{alias:path}/policy", _guarded(_policy), methods=["POST"]),
    Route("/admin/aliases/{alias:path}/rollback", _guarded(_rollback), methods=["POST"]),
    Route("/admin/routing-changes", _guarded(_changes), methods=["GET"]),
]
