"""Admin API for teams and keys, on ``service.teams`` and ``service.keys`` (docs/governance.md).

    GET    /admin/teams                   list            POST /admin/teams           create
    GET    /admin/teams/{name}            show            PATCH /admin/teams/{name}   update limits/thresholds
    GET    /admin/keys[?team=T]           list            POST /admin/keys            create (secret shown once)
    GET    /admin/keys/{name}             show            PATCH /admin/keys/{name}    update
    DELETE /admin/keys/{name}             revoke          POST /admin/keys/{name}/rotate  {"grace": "1h"}

Bodies use the CLI's names: ``budget_usd`` (a decimal string), ``budget_period``, ``image_quota``,
``quota_period``, ``rpm``, ``ipm``, ``max_concurrent``, ``alert_thresholds``; a field sent as
``null`` is cleared, a field left out is kept. ``GET`` is open to ``admin-read`` keys, the rest
needs the master key or an ``admin`` key (``api.admin.access``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.ports import DuplicateKeyName, DuplicateTeamName
from imagegate.api.admin.access import admin_endpoint, read_or_write
from imagegate.api.admin.params import parse_body
from imagegate.domain.durations import parse_span
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.service.keys import KeyAdmin, KeyNotFound, KeySettings, key_view
from imagegate.service.limit_changes import LIMIT_FIELDS, UNCHANGED
from imagegate.service.teams import TeamAdmin, TeamNotFound, team_view

_STATUS: dict[type[ImagegateError], int] = {TeamNotFound: 404, KeyNotFound: 404}


class LimitFields(BaseModel):
    """The limit fields teams and keys share (null clears one)."""

    model_config = ConfigDict(extra="forbid")

    budget_usd: StrictStr | Decimal | None = None
    budget_period: StrictStr | None = None
    image_quota: StrictInt | None = None
    quota_period: StrictStr | None = None
    rpm: StrictInt | None = None
    ipm: StrictInt | None = None
    max_concurrent: StrictInt | None = None
    alert_thresholds: list[StrictInt] | None = None

    def limit_changes(self) -> dict[str, Any]:
        """The limit fields the body carried (null included), by name."""
        return {name: getattr(self, name) for name in LIMIT_FIELDS if name in self.model_fields_set}

    def thresholds(self) -> Any:
        """The thresholds if the body carried them (null clears), else ``UNCHANGED``."""
        return self.alert_thresholds if "alert_thresholds" in self.model_fields_set else UNCHANGED


class TeamBody(LimitFields):
    """``POST /admin/teams`` (``name`` required) and ``PATCH /admin/teams/{name}`` (no ``name``)."""

    name: StrictStr | None = None


class KeyBody(LimitFields):
    """``POST /admin/keys`` (``name`` required) and ``PATCH /admin/keys/{name}``."""

    name: StrictStr | None = None
    team: StrictStr | None = None
    models: list[StrictStr] | None = None
    dialects: list[StrictStr] | None = None
    role: StrictStr | None = None
    expires_at: datetime | None = None
    expires_in: StrictStr | None = None
    tags: dict[StrictStr, StrictStr] | None = None

    def settings(self) -> KeySettings:
        """What the body sets; fields it left out stay as they are."""
        given = self.model_fields_set
        expires: Any = UNCHANGED
        if "expires_in" in given and self.expires_in is not None:
            span = _span(self.expires_in, "expires_in")
            expires = datetime.now(UTC) + span
        elif "expires_at" in given:
            expires = self.expires_at
        return KeySettings(
            team=self.team if "team" in given else UNCHANGED,
            models=self.models if "models" in given else UNCHANGED,
            role=(self.role or "client") if "role" in given else UNCHANGED,
            expires_at=expires,
            dialects=self.dialects if "dialects" in given else UNCHANGED,
            tags=self.tags if "tags" in given else UNCHANGED,
            limits=self.limit_changes(),
            alert_thresholds=self.thresholds(),
        )


class RotateBody(BaseModel):
    """``POST /admin/keys/{name}/rotate``: how long the old secret keeps working (default 0)."""

    model_config = ConfigDict(extra="forbid")
    grace: StrictStr | None = None


B = TypeVar("B", TeamBody, KeyBody)


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _span(text: str, param: str) -> timedelta:
    span = parse_span(text)
    if span is None:
        raise InvalidRequest(f"'{param}' must be a span such as 30m, 1h or 30d", param=param)
    return span


def _teams(request: Request) -> TeamAdmin:
    admin: TeamAdmin = request.app.state.team_admin
    return admin


def _keys(request: Request) -> KeyAdmin:
    admin: KeyAdmin = request.app.state.key_admin
    return admin


async def _creation(request: Request, model: type[B]) -> tuple[B, str]:
    """A creation body and the new name it must carry."""
    body = parse_body(model, await request.body())
    if body.name is None or body.name.strip() == "":
        raise InvalidRequest("'name' is required", param="name")
    return body, body.name


async def _change(request: Request, model: type[B]) -> tuple[B, str]:
    """An update body (which cannot rename) and the name from the path."""
    body = parse_body(model, await request.body())
    if body.name is not None:
        raise InvalidRequest("names cannot be changed", param="name")
    return body, request.path_params["name"]


async def _list_teams(request: Request) -> Response:
    teams = await anyio.to_thread.run_sync(_teams(request).list)
    return _json({"object": "list", "data": [team_view(team) for team in teams]})


async def _create_team(request: Request) -> Response:
    body, name = await _creation(request, TeamBody)
    try:
        team = await anyio.to_thread.run_sync(
            lambda: _teams(request).create(name, body.limit_changes(), body.alert_thresholds)
        )
    except DuplicateTeamName:
        raise InvalidRequest(f"A team named '{name}' already exists.", param="name") from None
    return _json(team_view(team), status=201)


async def _show_team(request: Request) -> Response:
    team = await anyio.to_thread.run_sync(_teams(request).show, request.path_params["name"])
    return _json(team_view(team))


async def _update_team(request: Request) -> Response:
    body, name = await _change(request, TeamBody)
    team = await anyio.to_thread.run_sync(lambda: _teams(request).update(name, body.limit_changes(), body.thresholds()))
    return _json(team_view(team))


async def _list_keys(request: Request) -> Response:
    team = request.query_params.get("team")
    records = await anyio.to_thread.run_sync(_keys(request).list, team)
    return _json({"object": "list", "data": [key_view(record) for record in records]})


async def _create_key(request: Request) -> Response:
    body, name = await _creation(request, KeyBody)
    settings = body.settings()
    try:
        created = await anyio.to_thread.run_sync(_keys(request).create, name, settings)
    except DuplicateKeyName:
        raise InvalidRequest(f"A key named '{name}' already exists.", param="name") from None
    return _json({**key_view(created.record), "key": created.secret}, status=201)


async def _show_key(request: Request) -> Response:
    record = await anyio.to_thread.run_sync(_keys(request).show, request.path_params["name"])
    return _json(key_view(record))


async def _update_key(request: Request) -> Response:
    body, name = await _change(request, KeyBody)
    settings = body.settings()
    record = await anyio.to_thread.run_sync(_keys(request).update, name, settings)
    return _json(key_view(record))


async def _key_item_write(request: Request) -> Response:
    if request.method == "DELETE":
        name = request.path_params["name"]
        await anyio.to_thread.run_sync(_keys(request).revoke, name)
        return _json({"name": name, "revoked": True})
    return await _update_key(request)


async def _rotate_key(request: Request) -> Response:
    raw = await request.body()
    body = parse_body(RotateBody, raw if raw.strip() != b"" else b"{}")
    grace = timedelta(0) if body.grace is None else _span(body.grace, "grace")
    created = await anyio.to_thread.run_sync(_keys(request).rotate, request.path_params["name"], grace)
    return _json({**key_view(created.record), "key": created.secret})


async def _team_item_write(request: Request) -> Response:
    return await _update_team(request)


routes = [
    Route("/admin/teams", read_or_write(_list_teams, _create_team, statuses=_STATUS), methods=["GET", "POST"]),
    Route(
        "/admin/teams/{name}",
        read_or_write(_show_team, _team_item_write, statuses=_STATUS),
        methods=["GET", "PATCH"],
    ),
    Route("/admin/keys", read_or_write(_list_keys, _create_key, statuses=_STATUS), methods=["GET", "POST"]),
    Route(
        "/admin/keys/{name}",
        read_or_write(_show_key, _key_item_write, statuses=_STATUS),
        methods=["GET", "PATCH", "DELETE"],
    ),
    Route("/admin/keys/{name}/rotate", admin_endpoint(_rotate_key, write=True, statuses=_STATUS), methods=["POST"]),
]
