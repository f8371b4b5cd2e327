"""``imagegate spend``: spend, reserved and remaining budget and images per team or key."""

from __future__ import annotations

import asyncio
import json

import typer
from sqlalchemy import Engine

from imagegate.cli.common import console, fail, migrated_engine, settings_from_env
from imagegate.cli.tables import Column, print_fitted
from imagegate.config.settings import Settings
from imagegate.domain.limits import PERIODS, Period
from imagegate.service.spend import SPEND_BY, SpendBy, SpendLine, SpendReport, spend_rows
from imagegate.store.keys import SqlKeyStore
from imagegate.store.sql_admission import ledger_seeder
from imagegate.store.teams import SqlTeamStore

SPEND_COLUMNS = [
    Column("name", shrink=True),
    Column("per", priority=4),
    Column("spend $", justify="right"),
    Column("held $", justify="right", priority=2),
    Column("left $", justify="right"),
    Column("images", justify="right", priority=1),
    Column("held", justify="right", priority=5),
    Column("left img", justify="right", priority=3),
]


def spend(
    by: str = typer.Option("team", "--by", help="team or key."),
    period: str | None = typer.Option(None, "--period", help="day, week, month or total (default: each limit's)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows (money as decimal strings)."),
) -> None:
    """Spend, reserved (in flight) and remaining budget and images, per team or key."""
    if by not in SPEND_BY:
        raise fail(f"--by must be one of {', '.join(SPEND_BY)}")
    chosen = next((known for known in PERIODS if known == period), None)
    if period is not None and chosen is None:
        raise fail(f"--period must be one of {', '.join(PERIODS)}")
    settings = settings_from_env()
    engine = migrated_engine(settings)
    try:
        lines = asyncio.run(_lines(settings, engine, "team" if by == "team" else "key", chosen))
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(spend_rows(lines)))
        return
    print_fitted(console, SPEND_COLUMNS, [_cells(line) for line in lines])


async def _lines(settings: Settings, engine: Engine, by: SpendBy, period: Period | None) -> list[SpendLine]:
    # The same admission state the gateways use, so "held" shows what is in flight on all of them.
    from imagegate.wiring import build_admission_store, redis_client_for  # the composition root, only here

    redis = None if settings.redis_url is None else redis_client_for(settings.redis_url)
    report = SpendReport(
        keys=SqlKeyStore(engine),
        teams=SqlTeamStore(engine),
        ledger_sum=ledger_seeder(engine),
        admission=build_admission_store(settings, engine, redis),
        timezone=settings.limits_timezone,
    )
    try:
        return await report.lines(by, period)
    finally:
        if redis is not None:
            await redis.aclose()


def _cells(line: SpendLine) -> list[str]:
    row = line.as_dict()

    def dash(value: object) -> str:
        return "-" if value is None else str(value)

    return [
        line.holder.name,
        line.budget_period,
        row["spend_usd"],
        row["reserved_usd"],
        dash(row["remaining_usd"]),
        str(line.images),
        str(line.reserved_images),
        dash(row["remaining_images"]),
    ]
