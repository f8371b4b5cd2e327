"""``imagegate keys``: create, list and revoke virtual keys (directly on the database)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from imagegate.accounting.ports import DuplicateKeyName
from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.service.keys import KeyAdmin, key_view
from imagegate.store.keys import SqlKeyStore

keys_app = typer.Typer(help="Manage virtual API keys.", no_args_is_help=True)


def _admin() -> KeyAdmin:
    return KeyAdmin(SqlKeyStore(migrated_engine(settings_from_env())))


@keys_app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A unique name for the key (who or what uses it)."),
    models: str | None = typer.Option(
        None, "--models", help="Comma-separated model aliases it may use (default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object with a 'key' field."),
) -> None:
    """Create a key and print it. This is the only time the key is shown."""
    allowed = None if models is None else [m.strip() for m in models.split(",") if m.strip() != ""]
    try:
        created = _admin().create(name, allowed)
    except DuplicateKeyName:
        raise fail(f"a key named {name!r} already exists") from None
    if as_json:
        print(json.dumps({**key_view(created.record), "key": created.secret}))
        return
    console.print(f"Created key [bold]{created.record.name}[/bold]. Store it now; it will not be shown again:")
    print(created.secret)


@keys_app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List keys (prefix only; secrets are never stored)."""
    rows = [key_view(record) for record in _admin().list()]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("name", "prefix", "models", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            str(row["name"]),
            f"{row['prefix']}…",
            ",".join(row["models"] or ["*"]),
            str(row["created_at"]),
            str(row["last_used_at"] or "-"),
            str(row["revoked_at"] or "-"),
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key; it stops working within seconds on every gateway."""
    if not _admin().revoke(name):
        raise fail(f"no active key named {name!r}")
    console.print(f"Revoked key [bold]{name}[/bold].")
