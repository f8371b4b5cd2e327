"""Budget, quota and job gauges read from the store: only holders with limits, at most the bound
of each kind (the rest counted as omitted), and every job status present."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from imagegate.accounting.keys import generate_key
from imagegate.domain.limits import Limits
from imagegate.service.spend import SpendReport
from imagegate.store.jobs import SqlJobStore
from imagegate.store.keys import SqlKeyStore
from imagegate.store.sql_admission import ledger_seeder
from imagegate.store.teams import SqlTeamStore
from imagegate.telemetry.store_state import StoreCollector, StoreStateReader
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.metrics import samples, value


def test_only_limited_holders_up_to_the_bound_get_series(tmp_path: Path) -> None:
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    teams, keys = SqlTeamStore(engine), SqlKeyStore(engine)
    for n in range(3):
        teams.create_team(name=f"limited-{n}", limits=Limits(budget_micros=(n + 1) * 1_000_000))
    teams.create_team(name="unlimited")
    new = generate_key()
    keys.create_key(
        name="quota-key", prefix=new.prefix, key_hash=new.key_hash, models=None, limits=Limits(image_quota=5)
    )
    spend = SpendReport(keys=keys, teams=teams, ledger_sum=ledger_seeder(engine), admission=None)
    reading = asyncio.run(StoreStateReader(spend, SqlJobStore(engine).count_by_status, max_holders=2).read())
    registry = CollectorRegistry()
    registry.register(StoreCollector(reading))
    found = samples(generate_latest(registry).decode())

    budgets = {
        dict(labels)["name"]: v for (name, labels), v in found.items() if name == "imagegate_budget_remaining_microusd"
    }
    assert budgets == {"limited-0": 1_000_000, "limited-1": 2_000_000}  # the two oldest; nothing spent yet
    assert value(found, "imagegate_limit_holders_omitted", holder="team") == 1
    assert value(found, "imagegate_limit_holders_omitted", holder="key") == 0
    assert value(found, "imagegate_images_remaining", holder="key", name="quota-key", period="month") == 5
    jobs = {dict(labels)["status"]: v for (name, labels), v in found.items() if name == "imagegate_jobs"}
    assert jobs == {"queued": 0, "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0}
    engine.dispose()


def test_without_a_job_store_there_is_no_job_series(tmp_path: Path) -> None:
    reading = asyncio.run(StoreStateReader(None, None).read())
    registry = CollectorRegistry()
    registry.register(StoreCollector(reading))
    text = generate_latest(registry).decode()
    assert "imagegate_jobs" not in text and "imagegate_budget_remaining_microusd" in text  # declared, no samples
    assert [name for name, _ in samples(text)] == []
