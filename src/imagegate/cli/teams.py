"""``imagegate teams``: create, list, show and update teams (directly on the database)."""

from __future__ import annotations

import json
from typing import Any

import typer

from imagegate.accounting.ports import DuplicateTeamName
from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.cli.limit_options import with_limit_options
from imagegate.cli.tables import Column, print_fitted
from imagegate.domain.errors import InvalidRequest
from imagegate.service.limit_changes import UNCHANGED
from imagegate.service.teams import TeamAdmin, team_view
from imagegate.store.teams import SqlTeamStore

teams_app = typer.Typer(help="Manage teams: they own keys and share limits.", no_args_is_help=True)

TEAM_COLUMNS = [
    Column("team", shrink=True),
    Column("budget $", justify="right"),
    Column("per", priority=2),
    Column("images", justify="right", priority=1),
    Column("per", priority=3),
    Column("rpm", justify="right", priority=4),
    Column("ipm", justify="right", priority=5),
    Column("conc", justify="right", priority=6),
    Column("alerts %", priority=7, shrink=True),
]


def _admin() -> TeamAdmin:
    return TeamAdmin(SqlTeamStore(migrated_engine(settings_from_env())))


def limit_cells(view: dict[str, Any]) -> list[str]:
    """A team's or key's limits as table cells (``-`` where there is no limit)."""
    limits = view["limits"]

    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    return [
        cell(limits["budget_usd"]),
        limits["budget_period"],
        cell(limits["image_quota"]),
        limits["quota_period"],
        cell(limits["rpm"]),
        cell(limits["ipm"]),
        cell(limits["max_concurrent"]),
        ",".join(str(p) for p in view["alert_thresholds"] or []) or "-",
    ]


def _show(views: list[dict[str, Any]], as_json: bool, *, single: bool = False) -> None:
    if as_json:
        print(json.dumps(views[0] if single else views))
        return
    print_fitted(console, TEAM_COLUMNS, [[view["name"], *limit_cells(view)] for view in views])


@teams_app.command("create")
@with_limit_options
def create(
    name: str = typer.Argument(..., help="A unique team name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    *,
    limits: dict[str, str],
    alert_at: str | None,
) -> None:
    """Create a team with optional limits (its keys share them)."""
    try:
        team = _admin().create(name, limits, alert_at)
    except DuplicateTeamName:
        raise fail(f"a team named {name!r} already exists") from None
    except InvalidRequest as error:
        raise fail(str(error)) from None
    _show([team_view(team)], as_json, single=True)


@teams_app.command("list")
def list_teams(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List teams and their limits."""
    _show([team_view(team) for team in _admin().list()], as_json)


@teams_app.command("show")
def show(
    name: str = typer.Argument(..., help="The team's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one team."""
    try:
        team = _admin().show(name)
    except InvalidRequest as error:
        raise fail(str(error)) from None
    _show([team_view(team)], as_json, single=True)


@teams_app.command("update")
@with_limit_options
def update(
    name: str = typer.Argument(..., help="The team's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    *,
    limits: dict[str, str],
    alert_at: str | None,
) -> None:
    """Change a team's limits (flags not given stay; 'none' removes a limit) or alert thresholds."""
    try:
        team = _admin().update(name, limits, UNCHANGED if alert_at is None else alert_at)
    except InvalidRequest as error:
        raise fail(str(error)) from None
    _show([team_view(team)], as_json, single=True)
