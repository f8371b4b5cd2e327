"""``imagegate webhooks``: register, list and delete endpoints, and see deliveries (on the database).

Endpoint secrets derive from the gateway's webhook signing key (``IMAGEGATE_WEBHOOK_SIGNING_KEY``,
else the master key, else the data directory's key file): run this with the gateway's environment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.table import Table

from imagegate.api.admin.webhooks import delivery_view, endpoint_view
from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.domain.errors import InvalidRequest
from imagegate.service.keys import KeyAdmin
from imagegate.service.webhook_sender import WebhookSender
from imagegate.service.webhooks import WebhookService
from imagegate.store.keys import SqlKeyStore
from imagegate.store.teams import SqlTeamStore
from imagegate.store.webhooks import SqlWebhookStore

webhooks_app = typer.Typer(help="Manage webhook endpoints (job events).", no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[WebhookService, KeyAdmin], Awaitable[T]]) -> T:
    settings = settings_from_env()
    engine = migrated_engine(settings)

    async def go() -> T:
        service = WebhookService(SqlWebhookStore(engine), signing_key=settings.webhook_key(), sender=WebhookSender())
        try:
            return await work(service, KeyAdmin(SqlKeyStore(engine), SqlTeamStore(engine)))
        finally:
            await service.stop()

    try:
        return asyncio.run(go())
    finally:
        engine.dispose()


@webhooks_app.command("create")
def create(
    url: str = typer.Option(..., "--url", help="Where events are POSTed."),
    key: str | None = typer.Option(None, "--key", help="Receive the events of this key's jobs (its name)."),
    team: str | None = typer.Option(None, "--team", help="Receive the events of this team's jobs (its name)."),
    events: list[str] | None = typer.Option(
        None, "--events", help="Event types to receive (repeat or comma-separate; default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object with a 'secret' field."),
) -> None:
    """Register an endpoint and print its signing secret. This is the only time it is shown."""
    if (key is None) == (team is None):
        raise fail("give exactly one of --key NAME or --team NAME")
    wanted = None if not events else [e.strip() for item in events for e in item.split(",") if e.strip() != ""]

    async def work(service: WebhookService, keys: KeyAdmin) -> tuple[dict[str, object], str]:
        key_id = team_id = None
        if key is not None:
            found = [record for record in keys.list() if record.name == key and record.active]
            if not found:
                raise InvalidRequest(f"no active key named {key!r}")
            key_id = found[0].id
        else:
            team_id = keys.team_id(str(team))
        endpoint, secret = await service.create_endpoint(url, key_id=key_id, team_id=team_id, events=wanted)
        return endpoint_view(endpoint), secret

    try:
        view, secret = _run(work)
    except InvalidRequest as error:
        raise fail(error.message) from None
    if as_json:
        print(json.dumps({**view, "secret": secret}))
        return
    console.print(f"Created endpoint [bold]{view['id']}[/bold]. Store its signing secret now; it is not shown again:")
    print(secret)


@webhooks_app.command("list")
def list_endpoints(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List live endpoints (never their secrets)."""

    async def work(service: WebhookService, keys: KeyAdmin) -> list[dict[str, object]]:
        return [endpoint_view(endpoint) for endpoint in await service.list_endpoints()]

    rows = _run(work)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("id", "url", "key id", "events", "created")
    for row in rows:
        table.add_row(
            str(row["id"]), str(row["url"]), str(row["key_id"]), str(row["events"] or "all"), str(row["created_at"])
        )
    console.print(table)


@webhooks_app.command("delete")
def delete(endpoint_id: str = typer.Argument(..., help="The endpoint's id.")) -> None:
    """Stop an endpoint receiving events (its deliveries stay visible)."""

    async def work(service: WebhookService, keys: KeyAdmin) -> bool:
        return await service.delete_endpoint(endpoint_id)

    if not _run(work):
        raise fail(f"no webhook endpoint {endpoint_id!r}")
    console.print(f"Deleted endpoint [bold]{endpoint_id}[/bold].")


@webhooks_app.command("deliveries")
def deliveries(
    endpoint: str | None = typer.Option(None, "--endpoint", help="Only this endpoint's deliveries."),
    limit: int = typer.Option(20, "--limit", min=1, max=500, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with every attempt)."),
) -> None:
    """Recent deliveries and how each attempt went."""

    async def work(service: WebhookService, keys: KeyAdmin) -> list[dict[str, object]]:
        return [delivery_view(d, attempts) for d, attempts in await service.deliveries(endpoint, limit)]

    rows = _run(work)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("id", "endpoint", "event", "status", "attempts", "last answer")
    for row in rows:
        log = row["attempt_log"]
        last = log[-1] if isinstance(log, list) and log else {}
        answer = last.get("http_status") or last.get("error") or "-"
        table.add_row(
            str(row["id"]),
            str(row["endpoint_id"]),
            str(row["event_type"]),
            str(row["status"]),
            str(row["attempts"]),
            str(answer),
        )
    console.print(table)
