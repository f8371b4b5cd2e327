"""``imagegate routes``: see every route, and change routing live (directly on the database).

Changes are stored with a log entry and reach every running gateway within its refresh
interval (``IMAGEGATE_CONTROLS_REFRESH_S``); nothing needs a restart. The latency and error
figures here come from the last hour of the ledger, as the CLI has no live traffic of its own.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from imagegate.cli.common import config_from, console, fail, migrated_engine, settings_from_env
from imagegate.cli.tables import Column, print_fitted
from imagegate.domain.errors import ClientError
from imagegate.routing.control_store import RoutingChange
from imagegate.service.route_control import RoutingAdmin, change_view, health_from_ledger

routes_app = typer.Typer(
    help="Routes: status, enable/disable, weights, policies, rollback, change log.",
    invoke_without_command=True,
)
STATS_WINDOW = timedelta(hours=1)
STATS_MAX_ROWS = 20_000


def _context(ctx: typer.Context) -> dict[str, Any]:
    return ctx.ensure_object(dict)


def _admin(ctx: typer.Context) -> tuple[RoutingAdmin, Any]:
    from imagegate.route_config import build_route_table, facts_from_catalog
    from imagegate.store.routing_state import SqlRoutingState
    from imagegate.wiring import load_operator_catalog, utc_today

    settings = settings_from_env()
    config = config_from(_context(ctx).get("config"), settings)
    engine = migrated_engine(settings)
    catalog = load_operator_catalog(settings, config)
    admin = RoutingAdmin(
        SqlRoutingState(engine), build_route_table(config), facts=facts_from_catalog(catalog), today=utc_today
    )
    return admin, engine


def actor() -> str:
    """Who made a change, for the log: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        # No login name (a container without a passwd entry): still attributable to the CLI.
        return "cli"


@routes_app.callback()
def routes(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config (default: $IMAGEGATE_CONFIG)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with no subcommand)."),
) -> None:
    """Every alias and route: provider/model, enabled, weight, policy, status, latency, error rate."""
    _context(ctx)["config"] = config
    if ctx.invoked_subcommand is not None:
        return
    from imagegate.store.ledger import SqlLedgerStore

    admin, engine = _admin(ctx)
    since = datetime.now(UTC) - STATS_WINDOW
    health = health_from_ledger(SqlLedgerStore(engine).query_entries(since=since, limit=STATS_MAX_ROWS))
    aliases = admin.overview(health)
    engine.dispose()
    if as_json:
        print(json.dumps(aliases, indent=1))
        return
    print_fitted(console, *routes_table(aliases), caption="* = operator override (imagegate routes log)")


ROUTE_COLUMNS = [
    Column("alias", priority=2, shrink=True),
    Column("route", shrink=True),
    Column("provider/model", priority=3, shrink=True),
    Column("enabled"),
    Column("weight", priority=5, justify="right"),
    Column("policy", priority=4),
    Column("status"),
    Column("last checked", priority=7),
    Column("p50/p95 ms", priority=6, justify="right"),
    Column("error rate", priority=1, justify="right"),
]


def routes_table(aliases: list[dict[str, Any]]) -> tuple[list[Column], list[list[str]]]:
    """The columns and rows ``imagegate routes`` prints (``*`` marks an operator override)."""
    rows = []
    for alias in aliases:
        policy = alias["policy"] + ("*" if alias["policy_override"] is not None else "")
        for row in alias["routes"]:
            overridden = row["override"]
            rows.append(
                [
                    alias["alias"],
                    row["route"],
                    f"{row['provider']}/{row['provider_model']}",
                    ("yes" if row["enabled"] else "no") + ("*" if overridden["enabled"] is not None else ""),
                    f"{row['weight']:g}" + ("*" if overridden["weight"] is not None else ""),
                    policy,
                    row["status"],
                    _when(row["last_checked_at"]),
                    "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f}/{row['p95_ms']:.0f}",
                    "-" if row["error_rate"] is None else f"{row['error_rate']:.0%}",
                ]
            )
    return ROUTE_COLUMNS, rows


def _when(iso: str | None) -> str:
    # Tables show UTC to the second; --json keeps the full ISO timestamp.
    return "-" if iso is None else iso[:19].replace("T", " ")


def _apply(ctx: typer.Context, change: Any) -> None:
    admin, engine = _admin(ctx)
    try:
        made: RoutingChange = change(admin)
    except ClientError as error:
        raise fail(error.message) from None
    finally:
        engine.dispose()
    console.print(
        f"change {made.id}: {made.action} {made.route or made.alias} "
        f"{json.dumps(made.before)} -> {json.dumps(made.after)}",
        highlight=False,
    )


@routes_app.command("disable")
def disable(ctx: typer.Context, route: str = typer.Argument(..., help="Route name (alias/provider/model).")) -> None:
    """Stop sending traffic to a route, on every gateway."""
    _apply(ctx, lambda admin: admin.disable(route, actor()))


@routes_app.command("enable")
def enable(ctx: typer.Context, route: str = typer.Argument(..., help="Route name (alias/provider/model).")) -> None:
    """Send traffic to a route again."""
    _apply(ctx, lambda admin: admin.enable(route, actor()))


@routes_app.command("weight")
def weight(
    ctx: typer.Context,
    route: str = typer.Argument(..., help="Route name (alias/provider/model)."),
    value: float = typer.Argument(..., help="Weight for the weighted policy (>= 0)."),
) -> None:
    """Set a route's weight."""
    _apply(ctx, lambda admin: admin.reweight(route, value, actor()))


@routes_app.command("policy")
def policy(
    ctx: typer.Context,
    alias: str = typer.Argument(..., help="Model alias."),
    value: str = typer.Argument(..., help="priority, weighted, cheapest or fastest."),
) -> None:
    """Set an alias's routing policy."""
    _apply(ctx, lambda admin: admin.set_policy(alias, value, actor()))


@routes_app.command("rollback")
def rollback(ctx: typer.Context, alias: str = typer.Argument(..., help="Model alias.")) -> None:
    """Undo the alias's most recent routing change (repeat to go further back)."""
    _apply(ctx, lambda admin: admin.rollback(alias, actor()))


@routes_app.command("log")
def log(
    ctx: typer.Context,
    alias: str | None = typer.Option(None, "--alias", help="Only this alias's changes."),
    limit: int = typer.Option(50, "--limit", min=1, help="How many entries."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The routing change log, newest first."""
    admin, engine = _admin(ctx)
    changes = [change_view(change) for change in admin.changes(alias=alias, limit=limit)]
    engine.dispose()
    if as_json:
        print(json.dumps(changes, indent=1))
        return
    table = Table("id", "at", "actor", "action", "alias", "route", "before", "after")
    for change in changes:
        action = change["action"] + ("" if change["reverts"] is None else f" of {change['reverts']}")
        table.add_row(
            str(change["id"]),
            _when(change["at"]),
            change["actor"],
            action,
            change["alias"],
            change["route"] or "-",
            json.dumps(change["before"]),
            json.dumps(change["after"]),
        )
    console.print(table)
