"""Admin API for webhook endpoints and their deliveries (master key or an admin-role key; docs/jobs.md, "Webhooks").

POST   /admin/webhooks                    {"url", "key": <key name> | "team": <team name> | "team_id", "events": [...]}
                                          → the endpoint and its signing ``secret`` (shown once)
GET    /admin/webhooks                    live endpoints (never their secrets)
DELETE /admin/webhooks/{id}               stop an endpoint (its deliveries stay visible)
GET    /admin/webhooks/{id}/deliveries    its deliveries, newest first, each with every attempt
GET    /admin/webhook-deliveries          every endpoint's deliveries (?limit=)
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from imagegate.api.admin.access import admin_endpoint
from imagegate.api.admin.params import parse_body
from imagegate.domain.errors import InvalidRequest, ResourceNotFound
from imagegate.service.keys import KeyAdmin
from imagegate.service.webhooks import WebhookService


class NewEndpointBody(BaseModel):
    """``POST /admin/webhooks`` body: a key (by name) or a team (by name, or id), and the events wanted."""

    model_config = ConfigDict(extra="forbid")

    url: StrictStr
    key: StrictStr | None = None
    team: StrictStr | None = None
    team_id: StrictInt | None = None
    events: list[StrictStr] | None = None


class EndpointNotFound(ResourceNotFound):
    """No live endpoint with that id."""


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _service(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as the admin API shows it (without its secret)."""
    return {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "key_id": endpoint.key_id,
        "team_id": endpoint.team_id,
        "events": endpoint.events,
        "created_at": endpoint.created_at.isoformat(),
    }


def delivery_view(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    """A delivery with each of its attempts."""
    return {
        "id": delivery.id,
        "object": "webhook_delivery",
        "endpoint_id": delivery.endpoint_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": None if delivery.next_attempt_at is None else delivery.next_attempt_at.isoformat(),
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": None if delivery.delivered_at is None else delivery.delivered_at.isoformat(),
        "attempt_log": [
            {
                "attempt": attempt.attempt,
                "at": attempt.at.isoformat(),
                "http_status": attempt.http_status,
                "error": attempt.error,
                "latency_ms": attempt.latency_ms,
            }
            for attempt in attempts
        ],
    }


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise InvalidRequest("'limit' must be an integer from 1 to 500.", param="limit")
    return int(raw)


async def _create(request: Request) -> Response:
    body = parse_body(NewEndpointBody, await request.body())
    key_id = None
    if body.key is not None:
        keys: KeyAdmin = request.app.state.key_admin
        records = await anyio.to_thread.run_sync(keys.list)
        found = [record for record in records if record.name == body.key and record.active]
        if not found:
            raise InvalidRequest(f"No active key named '{body.key}'.", param="key")
        key_id = found[0].id
    team_id = body.team_id
    if body.team is not None:
        keys_admin: KeyAdmin = request.app.state.key_admin
        team_id = await anyio.to_thread.run_sync(keys_admin.team_id, body.team)
    endpoint, secret = await _service(request).create_endpoint(
        body.url, key_id=key_id, team_id=team_id, events=body.events
    )
    return _json({**endpoint_view(endpoint), "secret": secret}, status=201)


async def _list(request: Request) -> Response:
    endpoints = await _service(request).list_endpoints()
    return _json({"object": "list", "data": [endpoint_view(endpoint) for endpoint in endpoints]})


async def _delete(request: Request) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    if not await _service(request).delete_endpoint(endpoint_id):
        raise EndpointNotFound(f"No webhook endpoint '{endpoint_id}'.", param="endpoint_id")
    return _json({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


async def _deliveries(request: Request) -> Response:
    found = await _service(request).deliveries(request.path_params.get("endpoint_id"), _limit(request))
    return _json({"object": "list", "data": [delivery_view(delivery, attempts) for delivery, attempts in found]})


routes = [
    Route("/admin/webhooks", admin_endpoint(_create, write=True), methods=["POST"]),
    Route("/admin/webhooks", admin_endpoint(_list, write=False), methods=["GET"]),
    Route("/admin/webhooks/{endpoint_id}", admin_endpoint(_delete, write=True), methods=["DELETE"]),
    Route("/admin/webhooks/{endpoint_id}/deliveries", admin_endpoint(_deliveries, write=False), methods=["GET"]),
    Route("/admin/webhook-deliveries", admin_endpoint(_deliveries, write=False), methods=["GET"]),
]
