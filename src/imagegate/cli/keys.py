"""``imagegate keys``: create, list, show, update, rotate and revoke virtual keys (on the database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

from imagegate.accounting.ports import DuplicateKeyName
from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.cli.limit_options import with_limit_options
from imagegate.cli.tables import Column, print_fitted
from imagegate.domain.durations import parse_span
from imagegate.domain.errors import InvalidRequest
from imagegate.service.keys import CreatedKey, KeyAdmin, KeySettings, key_view
from imagegate.service.limit_changes import UNCHANGED
from imagegate.store.keys import SqlKeyStore
from imagegate.store.teams import SqlTeamStore

keys_app = typer.Typer(help="Manage virtual API keys.", no_args_is_help=True)

KEY_COLUMNS = [
    Column("name", shrink=True),
    Column("prefix", priority=3),
    Column("team", priority=1, shrink=True),
    Column("role", priority=2),
    Column("models", priority=4, shrink=True),
    Column("budget $", priority=5, justify="right"),
    Column("expires", priority=6),
    Column("state"),
]
_CLEAR = ("none", "all", "")


def _admin() -> KeyAdmin:
    engine = migrated_engine(settings_from_env())
    return KeyAdmin(SqlKeyStore(engine), SqlTeamStore(engine))


def _csv(value: str | None) -> Any:
    """A comma list flag: UNCHANGED when absent, None for ``none``/``all``, else the items."""
    if value is None:
        return UNCHANGED
    if value.strip().lower() in _CLEAR:
        return None
    return [item.strip() for item in value.split(",") if item.strip() != ""]


def _tags(values: list[str] | None) -> Any:
    if values is None or len(values) == 0:
        return UNCHANGED
    if [value.strip().lower() for value in values] == ["none"]:
        return None
    tags: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if sep == "" or name.strip() == "":
            raise fail(f"--tag {value!r}: expected NAME=VALUE")
        tags[name.strip()] = text.strip()
    return tags


def _expiry(value: str | None) -> Any:
    if value is None:
        return UNCHANGED
    if value.strip().lower() in ("never", "none"):
        return None
    span = parse_span(value)
    if span is None:
        raise fail(f"--expires-in {value!r}: expected a span such as 12h, 30d or 2w (or never)")
    return datetime.now(UTC) + span


def _settings(
    team: str | None,
    models: str | None,
    dialects: str | None,
    role: str | None,
    expires_in: str | None,
    tags: list[str] | None,
    limits: dict[str, str],
    alert_at: str | None,
) -> KeySettings:
    return KeySettings(
        team=UNCHANGED if team is None else (None if team.strip().lower() == "none" else team),
        models=_csv(models),
        dialects=_csv(dialects),
        role=UNCHANGED if role is None else role,
        expires_at=_expiry(expires_in),
        tags=_tags(tags),
        limits=limits,
        alert_thresholds=UNCHANGED if alert_at is None else alert_at,
    )


def _print_secret(created: CreatedKey, as_json: bool, verb: str) -> None:
    if as_json:
        print(json.dumps({**key_view(created.record), "key": created.secret}))
        return
    console.print(f"{verb} key [bold]{created.record.name}[/bold]. Store it now; it will not be shown again:")
    print(created.secret)


_TEAM = typer.Option(None, "--team", help="The team that owns the key (none: no team).")
_MODELS = typer.Option(None, "--models", help="Comma-separated aliases or globs (gpt-image-*); default all.")
_DIALECTS = typer.Option(
    None, "--dialects", help="Comma-separated dialects/endpoints: openai-images, gemini, imagen, openai-images:edit."
)
_ROLE = typer.Option(None, "--role", help="client | admin-read | admin (default client).")
_EXPIRES = typer.Option(None, "--expires-in", help="Expire after this span (30d, 12h; never).")
_TAGS = typer.Option(None, "--tag", help="NAME=VALUE metadata copied onto ledger rows (repeatable).")
_JSON = typer.Option(False, "--json", help="Print JSON.")


@keys_app.command("create")
@with_limit_options
def create(
    name: str = typer.Option(..., "--name", help="A unique name for the key (who or what uses it)."),
    team: str | None = _TEAM,
    models: str | None = _MODELS,
    dialects: str | None = _DIALECTS,
    role: str | None = _ROLE,
    expires_in: str | None = _EXPIRES,
    tag: list[str] | None = _TAGS,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object with a 'key' field."),
    *,
    limits: dict[str, str],
    alert_at: str | None,
) -> None:
    """Create a key and print it. This is the only time the key is shown."""
    settings = _settings(team, models, dialects, role, expires_in, tag, limits, alert_at)
    try:
        created = _admin().create(name, settings)
    except DuplicateKeyName:
        raise fail(f"a key named {name!r} already exists") from None
    except InvalidRequest as error:
        raise fail(str(error)) from None
    _print_secret(created, as_json, "Created")


@keys_app.command("list")
def list_keys(
    team: str | None = typer.Option(None, "--team", help="Only this team's keys."),
    as_json: bool = _JSON,
) -> None:
    """List keys (prefix only; secrets are never stored)."""
    try:
        rows = [key_view(record) for record in _admin().list(team)]
    except InvalidRequest as error:
        raise fail(str(error)) from None
    if as_json:
        print(json.dumps(rows))
        return
    print_fitted(console, KEY_COLUMNS, [_cells(row) for row in rows])


def _cells(row: dict[str, Any]) -> list[str]:
    budget = row["limits"]["budget_usd"]
    if row["revoked_at"] is not None:
        state = "revoked"
    elif row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC).isoformat():
        state = "expired"
    else:
        state = "active"
    return [
        row["name"],
        f"{row['prefix']}…",
        row["team"] or "-",
        row["role"],
        ",".join(row["models"] or ["*"]),
        "-" if budget is None else budget,
        "-" if row["expires_at"] is None else row["expires_at"][:10],
        state,
    ]


@keys_app.command("show")
def show(name: str = typer.Argument(..., help="The key's name."), as_json: bool = _JSON) -> None:
    """Show one key's settings (never its secret)."""
    try:
        row = key_view(_admin().show(name))
    except InvalidRequest as error:
        raise fail(str(error)) from None
    if as_json:
        print(json.dumps(row))
        return
    print_fitted(console, KEY_COLUMNS, [_cells(row)])


@keys_app.command("update")
@with_limit_options
def update(
    name: str = typer.Argument(..., help="The key's name."),
    team: str | None = _TEAM,
    models: str | None = _MODELS,
    dialects: str | None = _DIALECTS,
    role: str | None = _ROLE,
    expires_in: str | None = _EXPIRES,
    tag: list[str] | None = _TAGS,
    as_json: bool = _JSON,
    *,
    limits: dict[str, str],
    alert_at: str | None,
) -> None:
    """Change a key's settings; flags not given stay as they are. The secret does not change."""
    settings = _settings(team, models, dialects, role, expires_in, tag, limits, alert_at)
    try:
        row = key_view(_admin().update(name, settings))
    except InvalidRequest as error:
        raise fail(str(error)) from None
    if as_json:
        print(json.dumps(row))
        return
    console.print(f"Updated key [bold]{name}[/bold].")


@keys_app.command("rotate")
def rotate(
    name: str = typer.Argument(..., help="The key's name."),
    grace: str = typer.Option("0s", "--grace", help="How long the old secret keeps working (1h, 7d; 0s: stop now)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object with the new 'key'."),
) -> None:
    """Give a key a new secret; the old one keeps working for the grace period."""
    span = parse_span(grace)
    if span is None:
        raise fail(f"--grace {grace!r}: expected a span such as 30m, 1h or 7d")
    try:
        created = _admin().rotate(name, span)
    except InvalidRequest as error:
        raise fail(str(error)) from None
    _print_secret(created, as_json, "Rotated")


@keys_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key; it stops working within the auth cache TTL on every gateway."""
    try:
        _admin().revoke(name)
    except InvalidRequest as error:
        raise fail(str(error)) from None
    console.print(f"Revoked key [bold]{name}[/bold].")
