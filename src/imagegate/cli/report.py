"""``imagegate report``: spend, acceptance and cost per accepted image by model, route, key or team."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import typer

from imagegate.accounting.reports import DIMENSIONS
from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.cli.tables import Column, print_fitted
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.tags import parse_tag
from imagegate.service.report import Report, build_report, figures, parse_when
from imagegate.store.reports import SqlReportStore


def report(
    by: str = typer.Option("model", "--by", help="Group by model, route, key or team."),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO, UTC if no zone) or span back (30d)."),
    until: str | None = typer.Option(None, "--until", help="Up to this time, exclusive (ISO or span back)."),
    tag: str | None = typer.Option(None, "--tag", help="Only ledger rows with this tag (name=value)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (the finance format, see docs/pricing.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Spend and acceptance from the ledger; every attempt's cost counts against accepted images."""
    if by not in DIMENSIONS:
        raise fail(f"--by must be one of {', '.join(DIMENSIONS)}")
    try:
        start, end = parse_when(since), parse_when(until)
        only = None if tag is None else parse_tag(tag, param="--tag")
    except (ValueError, InvalidRequest) as exc:
        raise fail(str(exc)) from None
    engine = migrated_engine(settings_from_env())
    try:
        result = build_report(SqlReportStore(engine), by, since=start, until=end, tag=only)
    finally:
        engine.dispose()
    if as_csv:
        sys.stdout.write(result.to_csv())
        return
    if as_json:
        print(json.dumps(result.as_dict(), indent=1))
        return
    print_fitted(console, *report_table(result), title=_title(result), sections_before=frozenset([len(result.groups)]))


# Money and the group name always show; the other figures go, least useful first, on a narrow terminal.
REPORT_FIGURES = (
    ("requests", "requests", 3),
    ("attempts", "attempts", 5),
    ("failed", "failed_attempts", 4),
    ("images", "images", 2),
    ("accepted", "accepted", 6),
    ("rejected", "rejected", 7),
    ("rate", "acceptance_rate", 1),
    ("spend $", "spend_usd", 0),
    ("$/image", "cost_per_image_usd", 0),
    ("$/accepted", "cost_per_accepted_image_usd", 0),
)


def report_table(result: Report) -> tuple[list[Column], list[list[str]]]:
    """The report's columns and rows, the total last."""
    columns = [Column(result.by, shrink=True)]
    columns += [Column(heading, priority=priority, justify="right") for heading, _, priority in REPORT_FIGURES]
    rows = [[group.group or "(none)", *_cells(figures(group))] for group in result.groups]
    rows.append(["total", *_cells(figures(result.total))])
    return columns, rows


def _title(result: Report) -> str:
    window = [f"since {_when(result.since)}"] if result.since is not None else []
    window += [f"until {_when(result.until)}"] if result.until is not None else []
    return f"Spend by {result.by}, {' '.join(window) or 'all time'}"


def _cells(row: dict[str, object]) -> list[str]:
    return ["-" if row[key] is None else str(row[key]) for _, key, _ in REPORT_FIGURES]


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="minutes")
