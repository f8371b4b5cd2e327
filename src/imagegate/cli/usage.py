"""``imagegate usage``: ledger rows, newest first; ``imagegate usage export``: all of them, streamed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import typer

from imagegate.accounting.ledger_scan import LedgerFilter
from imagegate.cli.common import console, err_console, fail, migrated_engine, parse_since, settings_from_env
from imagegate.cli.tables import Column, print_fitted
from imagegate.service.usage_export import EXPORT_FORMATS, ExportFormat, export_chunks, ledger_row
from imagegate.store.ledger import SqlLedgerStore

usage_app = typer.Typer(help="Ledger rows: show the newest, or export them all.", invoke_without_command=True)


# When and which request always show (the id is what ``--request`` takes); then what it cost.
USAGE_COLUMNS = [
    Column("time (UTC)"),
    Column("request", shrink=True),
    Column("key", priority=2, shrink=True),
    Column("team", priority=5, shrink=True),
    Column("model", shrink=True),
    Column("route", priority=4, shrink=True),
    Column("status", shrink=True),
    Column("images", priority=3, justify="right"),
    Column("cost $", justify="right"),
    Column("ms", priority=6, justify="right"),
]


@usage_app.callback()
def usage(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    since: str | None = typer.Option(None, "--since", help="ISO time or span (30m, 2h, 7d)."),
    key: str | None = typer.Option(None, "--key", help="Only this key's rows (by name)."),
    team: str | None = typer.Option(None, "--team", help="Only this team's rows (by name)."),
    model: str | None = typer.Option(None, "--model", help="Only this model alias."),
    request_id: str | None = typer.Option(None, "--request", help="Only this request's attempts (its x-request-id)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many rows."),
) -> None:
    """Show ledger rows, newest first: one per provider attempt."""
    if ctx.invoked_subcommand is not None:
        return
    engine = migrated_engine(settings_from_env())
    try:
        # One row more than asked tells whether there are more.
        entries = SqlLedgerStore(engine).query_entries(
            since=parse_since(since), key_name=key, model=model, team=team, request_id=request_id, limit=limit + 1
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
                row["team"] or "",
                row["model"],
                row["route"],
                status,
                str(row["images"]),
                row["cost_usd"],
                "" if row["latency_ms"] is None else str(row["latency_ms"]),
            ]
        )
    print_fitted(console, USAGE_COLUMNS, cells, caption=note)


@usage_app.command("export")
def export(
    output_format: str = typer.Option("jsonl", "--format", help="csv or jsonl (one JSON object per line)."),
    since: str | None = typer.Option(None, "--since", help="From this time on: ISO time or span (30m, 2h, 7d)."),
    until: str | None = typer.Option(None, "--until", help="Before this time: ISO time or span ago."),
    team: str | None = typer.Option(None, "--team", help="Only this team's rows (by name)."),
    key: str | None = typer.Option(None, "--key", help="Only this key's rows (by name)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (default: stdout)."),
) -> None:
    """Export ledger rows, oldest first, streamed in constant memory (any number of rows)."""
    if output_format not in EXPORT_FORMATS:
        raise fail(f"--format {output_format!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    chosen: ExportFormat = "csv" if output_format == "csv" else "jsonl"
    where = LedgerFilter(since=parse_since(since), until=parse_since(until, option="--until"), team=team, key_name=key)
    engine = migrated_engine(settings_from_env())
    try:
        if output is None:
            _write(export_chunks(SqlLedgerStore(engine), where, chosen), sys.stdout.buffer)
        else:
            with output.open("wb") as sink:
                _write(export_chunks(SqlLedgerStore(engine), where, chosen), sink)
    finally:
        engine.dispose()


def _write(chunks: Iterator[bytes], sink: BinaryIO) -> None:
    for chunk in chunks:
        sink.write(chunk)
    sink.flush()
