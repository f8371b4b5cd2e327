"""``imagegate usage``: ledger rows, newest first."""

from __future__ import annotations

import json
from typing import Any

import typer

from imagegate.accounting.ports import LedgerEntry
from imagegate.cli.common import console, err_console, migrated_engine, parse_since, settings_from_env
from imagegate.cli.tables import Column, print_fitted
from imagegate.domain.money import usd_string
from imagegate.store.ledger import SqlLedgerStore


def ledger_row(entry: LedgerEntry) -> dict[str, Any]:
    """The JSON shape of one ledger row (money as a decimal string)."""
    return {
        "request_id": entry.request_id,
        "attempt": entry.attempt,
        "key_name": entry.key_name,
        "model": entry.model,
        "provider": entry.provider,
        "provider_model": entry.provider_model,
        "route": entry.route,
        "operation": entry.operation,
        "dialect": entry.dialect,
        "status": entry.status,
        "error_code": entry.error_code,
        "http_status": entry.http_status,
        "images": entry.images,
        "usage": entry.usage,
        "cost_usd": usd_string(entry.cost_micros),
        "cost_estimated": entry.cost_estimated,
        "latency_ms": entry.latency_ms,
        "provider_request_id": entry.provider_request_id,
        "stream": entry.stream,
        "client_disconnected": entry.client_disconnected,
        "created_at": entry.created_at.isoformat(),
    }


# When and which request always show (the id is what ``--request`` takes); then what it cost.
USAGE_COLUMNS = [
    Column("time (UTC)"),
    Column("request", shrink=True),
    Column("key", priority=2, shrink=True),
    Column("model", shrink=True),
    Column("route", priority=4, shrink=True),
    Column("status", shrink=True),
    Column("images", priority=3, justify="right"),
    Column("cost $", justify="right"),
    Column("ms", priority=6, justify="right"),
]


def usage(
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    since: str | None = typer.Option(None, "--since", help="ISO time or span (30m, 2h, 7d)."),
    key: str | None = typer.Option(None, "--key", help="Only this key's rows (by name)."),
    model: str | None = typer.Option(None, "--model", help="Only this model alias."),
    request_id: str | None = typer.Option(None, "--request", help="Only this request's attempts (its x-request-id)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many rows."),
) -> None:
    """Show ledger rows, newest first: one per provider attempt."""
    engine = migrated_engine(settings_from_env())
    try:
        # One row more than asked tells whether there are more.
        entries = SqlLedgerStore(engine).query_entries(
            since=parse_since(since), key_name=key, model=model, request_id=request_id, limit=limit + 1
        )
    finally:
        engine.dispose()
    more = len(entries) > limit
    rows = [ledger_row(entry) for entry in entries[:limit]]
    note = f"more rows exist: showing the newest {limit} (--limit N to see more)" if more else None
    if as_json:
        print(json.dumps(rows))
        if note is not None:
            err_console.print(note, highlight=False)
        return
    cells = []
    for row in rows:
        status = row["status"] if row["error_code"] is None else f"{row['status']}: {row['error_code']}"
        cells.append(
            [
                row["created_at"][5:19].replace("T", " "),
                row["request_id"],
                row["key_name"] or "",
                row["model"],
                row["route"],
                status,
                str(row["images"]),
                row["cost_usd"],
                "" if row["latency_ms"] is None else str(row["latency_ms"]),
            ]
        )
    print_fitted(console, USAGE_COLUMNS, cells, caption=note)
