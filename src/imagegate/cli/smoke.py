"""``imagegate smoke``: one real, cheapest request per route; exit 1 if any route fails.

Each check is billed by the provider (the cheapest image the route allows) and recorded in the
ledger under the key name ``smoke``; its verdict becomes the route's status for every gateway
(``imagegate routes``, ``GET /admin/routes``, ``/api/pricing``). See docs/routing.md.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.table import Table

from imagegate.cli.common import config_from, console, fail, migrated_engine, settings_from_env
from imagegate.domain.errors import ClientError
from imagegate.domain.money import usd_string
from imagegate.providers.base import RouteTarget
from imagegate.providers.http import HttpExecutor
from imagegate.service.smoke import SmokeResult, SmokeTester


def smoke(
    model: list[str] = typer.Option([], "--model", "-m", help="Check this alias's routes (repeatable)."),
    route: list[str] = typer.Option([], "--route", "-r", help="Check this route (repeatable)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config (default: $IMAGEGATE_CONFIG)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Smoke-test routes (all of them unless --model/--route): status, latency, cost."""
    from imagegate.providers.registry import builtin_registry
    from imagegate.route_config import build_route_table, facts_from_catalog
    from imagegate.service.route_control import RoutingAdmin
    from imagegate.store.ledger import SqlLedgerStore
    from imagegate.store.routing_state import SqlRoutingState
    from imagegate.wiring import load_operator_catalog, utc_today

    settings = settings_from_env()
    gateway_config = config_from(config, settings)
    routes = build_route_table(gateway_config)
    facts = facts_from_catalog(load_operator_catalog(settings, gateway_config))
    engine = migrated_engine(settings)
    ledger = SqlLedgerStore(engine)
    admin = RoutingAdmin(SqlRoutingState(engine), routes, facts=facts, today=utc_today)
    http = HttpExecutor()
    tester = SmokeTester(
        routes=routes,
        registry=builtin_registry(),
        facts=facts,
        http=http,
        record_entry=lambda entry: ledger.append_entries([entry]),
        record_check=admin.record_check,
        today=utc_today,
    )
    try:
        targets = tester.select(model, route)
    except ClientError as error:
        engine.dispose()
        raise fail(error.message) from None
    if not targets:
        engine.dispose()
        raise fail("no routes to check: the config defines no models")
    try:
        results = asyncio.run(_run(tester, targets, http))
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps([result.as_dict() for result in results], indent=1))
    else:
        console.print(smoke_table(results))
    if not all(result.passed for result in results):
        raise typer.Exit(1)


async def _run(tester: SmokeTester, targets: list[RouteTarget], http: HttpExecutor) -> list[SmokeResult]:
    try:
        return await tester.run(targets)
    finally:
        await http.aclose()


def smoke_table(results: list[SmokeResult]) -> Table:
    """The rich table ``imagegate smoke`` prints."""
    table = Table("route", "provider/model", "status", "latency ms", "asked", "cost", "provider request id", "detail")
    for result in results:
        check = result.check
        colour = "green" if check.status == "available" else "yellow" if result.passed else "red"
        asked = " ".join(part for part in (result.size, result.quality) if part) or "-"
        table.add_row(
            result.target.name,
            f"{result.target.provider}/{result.target.model}",
            f"[{colour}]{check.status}[/{colour}]",
            "-" if check.latency_ms is None else str(check.latency_ms),
            asked,
            "-" if check.cost_micros is None else f"${usd_string(check.cost_micros)}",
            check.provider_request_id or "-",
            ": ".join(part for part in (check.error_code, check.detail) if part)[:80] or "-",
        )
    return table
