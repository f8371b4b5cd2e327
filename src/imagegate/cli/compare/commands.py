"""``imagegate compare run|report|feedback``: the evaluation loop from the command line (docs/compare.md)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from imagegate.cli.common import console, fail
from imagegate.cli.compare.gateway_client import (
    GatewayRefused,
    gateway_client,
    give_verdict,
    run_detail,
    usage_by_request,
)
from imagegate.cli.compare.html_report import render_report
from imagegate.cli.compare.run_state import CellRecord, RunDirectory, RunManifest, RunNotFound, key_prefix, new_run_id
from imagegate.cli.compare.runner import DEFAULT_TIMEOUT_S, CompareRunner
from imagegate.cli.compare.workload import Cell, WorkloadError, load_workload
from imagegate.cli.tables import Column, print_fitted
from imagegate.service.compare_summary import micros_of, usd

compare_app = typer.Typer(help="Compare models on your own prompts: run, review, report.", no_args_is_help=True)

DEFAULT_RUNS_DIR = Path("compare-runs")
_URL = typer.Option(None, "--url", envvar="IMAGEGATE_URL", help="Gateway base URL (default $IMAGEGATE_URL).")
_KEY = typer.Option(None, "--key", envvar="IMAGEGATE_KEY", help="imagegate key (default $IMAGEGATE_KEY).")
_OUT = typer.Option(DEFAULT_RUNS_DIR, "--out", help="Directory holding runs (one folder per run).")


def _require(value: str | None, flag: str) -> str:
    if value is None or value == "":
        raise fail(f"{flag} is required (or set $IMAGEGATE_{flag.lstrip('-').upper()})")
    return value


@compare_app.command("run")
def run(
    file: Path = typer.Argument(..., help="Workload file (.yaml or .jsonl)."),
    url: str | None = _URL,
    key: str | None = _KEY,
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Requests in flight at once."),
    out: Path = _OUT,
    resume: str | None = typer.Option(None, "--resume", help="Continue this run: finished cells are not re-run."),
    timeout_s: float = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="Per-request timeout in seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object with run_id and counts."),
) -> None:
    """Run every prompt on every model through the gateway; prints the run id."""
    try:
        workload = load_workload(file)
    except WorkloadError as error:
        raise fail(str(error)) from None
    base_url, secret = _require(url, "--url"), _require(key, "--key")
    cells = list(workload.cells())
    if resume is not None:
        try:
            run_dir = RunDirectory.open(out, resume)
        except RunNotFound as error:
            raise fail(str(error)) from None
        manifest = run_dir.manifest()
        if manifest.workload_digest != workload.digest:
            raise fail(f"{file} changed since run {manifest.run_id} started; start a new run instead")
    else:
        manifest = RunManifest(
            run_id=new_run_id(),
            workload_name=workload.name,
            workload_file=str(file),
            workload_digest=workload.digest,
            url=base_url,
            key_prefix=key_prefix(secret),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            cells=len(cells),
            prompts=[prompt.prompt for prompt in workload.spec.prompts],
            models=list(workload.spec.models),
        )
        run_dir = RunDirectory.create(out, manifest)
    already = len(run_dir.finished())
    if not as_json:
        console.print(f"compare run {manifest.run_id}: {len(cells)} cells, {already} already done", highlight=False)
    try:
        asyncio.run(_run_cells(run_dir, manifest.run_id, cells, base_url, secret, concurrency, timeout_s, as_json))
    except KeyboardInterrupt:
        console.print(
            f"interrupted; resume with: imagegate compare run {file} --resume {manifest.run_id} --out {out}",
            highlight=False,
        )
        raise typer.Exit(130) from None
    records = list(run_dir.records())
    statuses: dict[str, int] = {}
    for record in records:
        statuses[record.status] = statuses.get(record.status, 0) + 1
    if as_json:
        print(json.dumps({"run_id": manifest.run_id, "dir": str(run_dir.path), "cells": len(cells), **statuses}))
        return
    done = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    console.print(f"{manifest.run_id} finished: {done}", highlight=False)
    console.print(f"report: imagegate compare report {manifest.run_id} --out {out}", highlight=False)


async def _run_cells(
    run_dir: RunDirectory,
    run_id: str,
    cells: list[Cell],
    url: str,
    key: str,
    concurrency: int,
    timeout_s: float,
    quiet: bool,
) -> None:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
    )
    with progress:
        task = progress.add_task("cells", total=len(cells), completed=len(run_dir.finished()))

        def advance(record: CellRecord) -> None:
            progress.advance(task)

        async with gateway_client(url, key, timeout_s) as client:
            runner = CompareRunner(client, run_dir, run_id, concurrency=concurrency, on_done=advance)
            try:
                await runner.run(cells)
            except GatewayRefused as error:
                raise fail(str(error)) from None
            finally:
                await runner.aclose()
    for failure in runner.upload_failures:
        console.print(f"[yellow]warning:[/yellow] not recorded at the gateway (resume to retry): {failure}")


SUMMARY_COLUMNS = (
    ("requested", "requested", 4),
    ("returned", "returned", 2),
    ("failed", "failed", 3),
    ("blocked", "blocked", 5),
    ("refused", "refused", 6),
    ("retried", "retried", 7),
    ("accepted", "accepted", 1),
    ("rejected", "rejected", 8),
    ("spend $", "spend_usd", 0),
    ("$/accepted", "cost_per_accepted_image_usd", 0),
    ("p50 ms", "p50_ms", 2),
    ("p95 ms", "p95_ms", 3),
)


@compare_app.command("report")
def report(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run id (or the run's folder)."),
    url: str | None = _URL,
    key: str | None = _KEY,
    out: Path = _OUT,
    volume: int | None = typer.Option(None, "--volume", min=1, help="Accepted images a month, for a monthly cost."),
    html: Path | None = typer.Option(None, "--html", help="Where to write the HTML report (default: in the run)."),
    embed: bool = typer.Option(False, "--embed", help="Inline the images in the HTML (one self-contained file)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
) -> None:
    """The per-model summary: outcomes, latency, spend from the ledger, cost per accepted image."""
    run_dir = _open(out, run_ref)
    manifest = run_dir.manifest()
    base_url = url if url is not None and url != "" else manifest.url
    detail = asyncio.run(_detail(base_url, _require(key, "--key"), manifest.run_id))
    rows = [_with_volume(row, volume) for row in detail["summary"]]
    page = html if html is not None else run_dir.path / ("report-embedded.html" if embed else "report.html")
    page.write_text(render_report(run_dir, rows, usage_by_request(detail), embed=embed), encoding="utf-8")
    if as_json:
        print(json.dumps({"run_id": manifest.run_id, "workload": manifest.workload_name, "models": rows}, indent=1))
        return
    if as_csv:
        sys.stdout.write(_csv(rows))
        return
    columns = [Column("model", shrink=True)]
    columns += [Column(heading, priority=priority, justify="right") for heading, _, priority in SUMMARY_COLUMNS]
    table_rows = [
        [row["model"], *["-" if row[field] is None else str(row[field]) for _, field, _ in SUMMARY_COLUMNS]]
        for row in rows
    ]
    caption = "* p50/p95 indicative (fewer than 20 samples)" if any(row["latency_indicative"] for row in rows) else None
    print_fitted(console, columns, table_rows, title=f"{manifest.workload_name} ({manifest.run_id})", caption=caption)
    if volume is not None:
        for row in rows:
            console.print(f"{row['model']}: {row['monthly_cost_usd'] or '-'} USD a month at {volume} accepted images")
    console.print(f"HTML report: {page}", highlight=False)


@compare_app.command("feedback")
def feedback(
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run id (or the run's folder)."),
    cell: str = typer.Argument(..., help="Cell id (as in the run's cells.jsonl, e.g. p000.gpt-image-2.r1)."),
    accept: bool = typer.Option(..., "--accept/--reject", help="Keep or reject the image."),
    image: int = typer.Option(0, "--image", min=0, help="Which image of the cell."),
    url: str | None = _URL,
    key: str | None = _KEY,
    out: Path = _OUT,
) -> None:
    """Accept or reject one image of a run (recorded through /v1/images/feedback)."""
    run_dir = _open(out, run_ref)
    record = next((record for record in run_dir.records() if record.cell_id == cell), None)
    if record is None or record.request_id is None or image >= len(record.images):
        raise fail(f"run {run_ref} has no delivered image {image} in cell {cell}")
    base_url = url if url is not None and url != "" else run_dir.manifest().url

    async def send() -> None:
        async with gateway_client(base_url, _require(key, "--key"), 30.0) as client:
            await give_verdict(client, str(record.request_id), image, accept)

    try:
        asyncio.run(send())
    except GatewayRefused as error:
        raise fail(str(error)) from None
    console.print(f"{cell} image {image}: {'accepted' if accept else 'rejected'}", highlight=False)


def _open(out: Path, run_ref: str) -> RunDirectory:
    try:
        return RunDirectory.open(out, run_ref)
    except RunNotFound as error:
        raise fail(str(error)) from None


async def _detail(url: str, key: str, run_id: str) -> dict[str, Any]:
    async with gateway_client(url, key, 60.0) as client:
        try:
            return await run_detail(client, run_id)
        except GatewayRefused as error:
            raise fail(str(error)) from None


def _with_volume(row: dict[str, Any], volume: int | None) -> dict[str, Any]:
    """Add the monthly cost at ``volume`` accepted images (integer micro-dollar arithmetic)."""
    if volume is None:
        return row
    per_accepted = row["cost_per_accepted_image_usd"]
    monthly = None if per_accepted is None else usd(micros_of(per_accepted) * volume)
    return {**row, "accepted_per_month": volume, "monthly_cost_usd": monthly}


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["model"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
