"""``imagegate batch``: submit a JSONL of image requests to a provider's Batch API, poll it, fetch results.

The commands work on the configured database and config directly (like ``imagegate smoke``):
``status`` polls the provider and, once the batch is final, writes its ledger rows (once, whoever
polls first). See docs/batch.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer

from imagegate.cli.common import config_from, console, fail, migrated_engine, settings_from_env
from imagegate.domain.errors import ImagegateError
from imagegate.providers.http import HttpExecutor
from imagegate.service.batches import BatchService, batch_view
from imagegate.service.gateway import RequestLimits

T = TypeVar("T")

batch_app = typer.Typer(help="Provider Batch APIs: many image requests at the batch price.", no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="YAML config (default: $IMAGEGATE_CONFIG).")


@dataclass(frozen=True, slots=True)
class _Session:
    """The batch service on the configured database, its HTTP client, and the config's input limits."""

    service: BatchService
    http: HttpExecutor
    limits: RequestLimits


@contextmanager
def _service(config: Path | None) -> Iterator[_Session]:
    from imagegate.providers.registry import builtin_registry
    from imagegate.route_config import build_route_table, facts_from_catalog, replacements_from_catalog
    from imagegate.service.plan import plan_request
    from imagegate.store.batches import SqlBatchStore
    from imagegate.store.ledger import SqlLedgerStore
    from imagegate.wiring import load_operator_catalog, utc_today

    settings = settings_from_env()
    gateway_config = config_from(config, settings)
    routes = build_route_table(gateway_config)
    catalog = load_operator_catalog(settings, gateway_config)
    facts = facts_from_catalog(catalog)
    registry = builtin_registry()
    replacements = replacements_from_catalog(catalog, registry)
    engine = migrated_engine(settings)
    http = HttpExecutor()

    def planner(request_id: str, request: Any, principal: Any) -> Any:
        return plan_request(
            request_id=request_id,
            request=request,
            principal=principal,
            routes=routes,
            registry=registry,
            facts=facts,
            today=utc_today(),
            replacements=replacements,
        )

    ledger = SqlLedgerStore(engine)
    service = BatchService(
        planner=planner,
        http=http,
        store=SqlBatchStore(engine),
        record_entry=lambda entry: ledger.append_entries([entry]),
    )
    limits = RequestLimits(
        max_body_bytes=gateway_config.limits.max_body_bytes,
        max_image_bytes=gateway_config.limits.max_image_bytes,
        max_images=gateway_config.limits.max_images,
    )
    try:
        yield _Session(service, http, limits)
    finally:
        engine.dispose()


def _run(http: HttpExecutor, call: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        try:
            return await call()
        finally:
            await http.aclose()

    try:
        return asyncio.run(run())
    except ImagegateError as error:
        raise fail(error.message) from None


@batch_app.command("submit")
def submit(
    file: Path = typer.Argument(
        ..., help="JSONL: one /v1/images/generations (or JSON /v1/images/edits) body per line, optional custom_id."
    ),
    model: str = typer.Option(..., "--model", "-m", help="The model alias every line is sent to."),
    config: Path | None = _CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object with the batch id."),
) -> None:
    """Submit a batch file through the alias's provider Batch API; prints the batch id."""
    from imagegate.api.openai.batch_file import parse_batch_file

    with _service(config) as session:
        try:
            inputs = parse_batch_file(file.read_bytes(), session.limits)
        except OSError as error:
            raise fail(f"cannot read {file}: {error.strerror}") from None
        except ImagegateError as error:
            raise fail(f"{file}: {error.message}") from None
        record = _run(session.http, lambda: session.service.submit(inputs, model))
    if as_json:
        print(json.dumps({"id": record.id, "state": record.state, "requests": len(record.lines)}))
    else:
        print(record.id)


@batch_app.command("status")
def status(
    batch_id: str = typer.Argument(..., help="The batch id `imagegate batch submit` printed."),
    config: Path | None = _CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Poll the provider: the batch's state, and once final its per-request totals and cost."""
    with _service(config) as session:
        record = _run(session.http, lambda: session.service.refresh(batch_id))
    view = batch_view(record)
    if as_json:
        print(json.dumps(view))
        return
    console.print(
        f"{view['id']} {view['state']} ({view['provider']} {view['provider_state']}): {view['requests']} requests, "
        f"{view['succeeded']} succeeded, {view['failed']} failed, ${view['cost_usd']}",
        highlight=False,
    )


@batch_app.command("results")
def results(
    batch_id: str = typer.Argument(..., help="The batch id."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the images and results.jsonl."),
    config: Path | None = _CONFIG,
) -> None:
    """Write a final batch's images (``{custom_id}-{i}.{format}``) and ``results.jsonl`` to --out."""
    out.mkdir(parents=True, exist_ok=True)

    async def to_directory(name: str, data: bytes, content_type: str) -> None:
        (out / name).write_bytes(data)

    with _service(config) as session:
        summary = _run(session.http, lambda: session.service.results(batch_id, to_directory))
    (out / "results.jsonl").write_text("".join(json.dumps(item) + "\n" for item in summary))
    done = sum(1 for item in summary if item["status"] == "ok")
    console.print(f"{done} of {len(summary)} requests succeeded; results in {out}", highlight=False)


@batch_app.command("cancel")
def cancel(batch_id: str = typer.Argument(..., help="The batch id."), config: Path | None = _CONFIG) -> None:
    """Cancel a running batch (requests the provider did not run are recorded at no cost)."""
    with _service(config) as session:
        record = _run(session.http, lambda: session.service.cancel(batch_id))
    console.print(f"{record.id} {record.state} ({record.provider_state})", highlight=False)
