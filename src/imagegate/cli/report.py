"""``imagegate report``: spend, acceptance and cost per accepted image by model, route or key."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import typer
from rich.table import Table

from imagegate.accounting.reports import DIMENSIONS
from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.service.report import Report, build_report, figures, parse_when
from imagegate.store.reports import SqlReportStore


def report(
    by: str = typer.Option("model", "--by", help="Group by model, route or key."),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO, UTC if no zone) or span back (30d)."),
    until: str | None = typer.Option(None, "--until", help="Up to this time, exclusive (ISO or span back)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (the finance format, see docs/pricing.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Spend and acceptance from the ledger; every attempt's cost counts against accepted images."""
    if by not in DIMENSIONS:
        raise fail(f"--by must be one of {', '.join(DIMENSIONS)}")
    try:
        start, end = parse_when(since), parse_when(until)
    except ValueError as exc:
        raise fail(str(exc)) from None
    engine = migrated_engine(settings_from_env())
    try:
        result = build_report(SqlReportStore(engine), by, since=start, until=end)
    finally:
        engine.dispose()
    if as_csv:
        sys.stdout.write(result.to_csv())
        return
    if as_json:
        print(json.dumps(result.as_dict(), indent=1))
        return
    console.print(report_table(result))


def report_table(result: Report) -> Table:
    """The report as a rich table with a total row."""
    window = [f"since {_when(result.since)}"] if result.since is not None else []
    window += [f"until {_when(result.until)}"] if result.until is not None else []
    table = Table(title=f"Spend by {result.by}, {' '.join(window) or 'all time'}", title_justify="left")
    headings = [
        "requests",
        "attempts",
        "failed",
        "images",
        "accepted",
        "rejected",
        "rate",
        "spend $",
        "$/image",
        "$/accepted",
    ]
    table.add_column(result.by, overflow="fold")
    for heading in headings:
        table.add_column(heading, justify="right")
    for group in result.groups:
        table.add_row(group.group or "(none)", *_cells(figures(group)))
    table.add_section()
    table.add_row("total", *_cells(figures(result.total)))
    return table


def _cells(row: dict[str, object]) -> list[str]:
    keys = [
        "requests",
        "attempts",
        "failed_attempts",
        "images",
        "accepted",
        "rejected",
        "acceptance_rate",
        "spend_usd",
        "cost_per_image_usd",
        "cost_per_accepted_image_usd",
    ]
    return ["-" if row[key] is None else str(row[key]) for key in keys]


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="minutes")
