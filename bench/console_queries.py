"""How long the console's pages take to gather their figures over a large ledger.

Fills a fresh SQLite file (WAL, as the gateway runs it) with synthetic ledger rows spread over the
last 30 days (several models, routes, keys; a share of failures), then times, over several rounds,
what each page asks the database: the overview (24 h and 30 d windows), the spend report for the
month, the ledger explorer's newest page, a request-id lookup and a team filter; and what a
``/metrics`` scrape reads for the budget gauges (50 teams and 50 keys with budgets, the bound).

    python bench/console_queries.py [--rows 100000] [--rounds 5]

Prints the median time of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from imagegate.accounting.insights import LedgerSearch
from imagegate.accounting.keys import generate_key
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.limits import Limits
from imagegate.service.overview import build_overview, month_start
from imagegate.service.report import build_report
from imagegate.service.spend import SpendReport
from imagegate.store.database import make_engine
from imagegate.store.insights import SqlLedgerInsights
from imagegate.store.jobs import SqlJobStore
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.migrate import upgrade_database
from imagegate.store.reports import SqlReportStore
from imagegate.store.sql_admission import ledger_seeder
from imagegate.store.teams import SqlTeamStore
from imagegate.telemetry.store_state import MAX_HOLDERS, StoreStateReader

MODELS = ("gpt-image-2", "nano-banana-2", "nano-banana-pro", "imagen-4")
ERRORS = ("rate_limited", "upstream_unavailable", "timeout", "moderation_blocked")


def fill(store: SqlLedgerStore, rows: int, now: datetime) -> None:
    """``rows`` synthetic attempts over the last 30 days, written in batches."""
    span_s = 30 * 24 * 3600
    batch: list[LedgerEntry] = []
    for n in range(rows):
        model = MODELS[n % len(MODELS)]
        failed = n % 17 == 0
        batch.append(
            LedgerEntry(
                request_id=f"req_{n:012d}",
                attempt=1,
                model=model,
                provider="openai",
                provider_model=model,
                route=f"{model}/openai/{model}-{n % 2}",
                operation="generate",
                dialect="openai",
                status="error" if failed else "ok",
                error_code=ERRORS[n % len(ERRORS)] if failed else None,
                created_at=now - timedelta(seconds=(n * 7919) % span_s),
                key_name=f"key-{n % 25}",
                team=f"team-{n % 5}",
                images=0 if failed else 1,
                usage={"output_tokens": 1056},
                cost_micros=0 if failed else 11_000 + n % 40_000,
                latency_ms=800 + (n * 31) % 9000,
            )
        )
        if len(batch) == 5_000:
            store.append_entries(batch)
            batch = []
    store.append_entries(batch)


def budget_gauges(engine: Engine) -> Callable[[], object]:
    """50 teams and 50 keys with budgets and image quotas (``MAX_HOLDERS`` of each); reading
    their gauges as a scrape does."""
    teams, keys = SqlTeamStore(engine), SqlKeyStore(engine)
    limits = Limits(budget_micros=50_000_000, image_quota=1_000, quota_period="day")
    for n in range(MAX_HOLDERS):
        team = teams.create_team(name=f"team-{n}", limits=limits, alert_thresholds=None)
        new = generate_key()
        keys.create_key(
            name=f"key-{n}", prefix=new.prefix, key_hash=new.key_hash, models=None, team_id=team.id, limits=limits
        )
    spend = SpendReport(keys=keys, teams=teams, ledger_sum=ledger_seeder(engine), admission=None)
    reader = StoreStateReader(spend, SqlJobStore(engine).count_by_status)
    return lambda: asyncio.run(reader.read())


def median_ms(work: Callable[[], object], rounds: int) -> float:
    """The median wall time of ``work`` over ``rounds`` runs, in ms."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Fill, then time each page's queries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="imagegate-console-bench-") as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'imagegate.db'}")
        upgrade_database(engine)
        started = time.perf_counter()
        fill(SqlLedgerStore(engine), args.rows, now)
        print(f"ledger rows: {args.rows} (written in {time.perf_counter() - started:.1f} s), SQLite")
        reports, insights = SqlReportStore(engine), SqlLedgerInsights(engine)
        cases: dict[str, Callable[[], object]] = {
            "overview, last 24h": lambda: build_overview(reports, insights, now=now, window="24h"),
            "overview, last 30d": lambda: build_overview(reports, insights, now=now, window="30d"),
            "spend by key, this month": lambda: build_report(reports, "key", since=month_start(now)),
            "requests, newest 100": lambda: insights.search(LedgerSearch(), 100),
            "requests, by request id": lambda: insights.search(LedgerSearch(request_id="req_000000123456"), 1000),
            "requests, by team": lambda: insights.search(LedgerSearch(team="team-3"), 100),
            "/metrics budget gauges": budget_gauges(engine),
        }
        for name, work in cases.items():
            print(f"{name:28s} {median_ms(work, args.rounds):8.1f} ms (median of {args.rounds})")
        engine.dispose()


if __name__ == "__main__":
    main()
