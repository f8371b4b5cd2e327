"""``imagegate keys``: create, list and revoke virtual keys (directly on the database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from imagegate.accounting.keys import generate_key
from imagegate.accounting.ports import DuplicateKeyName
from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.store.keys import SqlKeyStore

keys_app = typer.Typer(help="Manage virtual API keys.", no_args_is_help=True)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@keys_app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A unique name for the key (who or what uses it)."),
    models: str | None = typer.Option(None, "--models", help="Comma-separated model aliases it may use (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object with a 'key' field."),
) -> None:
    """Create a key and print it. This is the only time the key is shown."""
    allowed = None if models is None else [m.strip() for m in models.split(",") if m.strip() != ""]
    new = generate_key()
    store = SqlKeyStore(migrated_engine(settings_from_env()))
    try:
        record = store.create_key(name=name, prefix=new.prefix, key_hash=new.key_hash, models=allowed)
    except DuplicateKeyName:
        raise fail(f"a key named {name!r} already exists") from None
    if as_json:
        print(json.dumps({"name": record.name, "key": new.secret, "prefix": record.prefix,
                          "models": allowed, "created_at": _iso(record.created_at)}))
        return
    console.print(f"Created key [bold]{record.name}[/bold]. Store it now; it will not be shown again:")
    print(new.secret)


@keys_app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List keys (prefix only; secrets are never stored)."""
    records = SqlKeyStore(migrated_engine(settings_from_env())).list_keys()
    rows = [
        {"name": r.name, "prefix": r.prefix, "models": None if r.models is None else list(r.models),
         "created_at": _iso(r.created_at), "last_used_at": _iso(r.last_used_at),
         "revoked_at": _iso(r.revoked_at), "expires_at": _iso(r.expires_at)}
        for r in records
    ]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("name", "prefix", "models", "created", "last used", "revoked")
    for row in rows:
        table.add_row(row["name"], row["prefix"] + "…", ",".join(row["models"] or ["*"]),
                      row["created_at"] or "", row["last_used_at"] or "-", row["revoked_at"] or "-")
    console.print(table)


@keys_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key; it stops working within seconds on every gateway."""
    store = SqlKeyStore(migrated_engine(settings_from_env()))
    if not store.revoke_key(name, datetime.now(UTC)):
        raise fail(f"no active key named {name!r}")
    console.print(f"Revoked key [bold]{name}[/bold].")
