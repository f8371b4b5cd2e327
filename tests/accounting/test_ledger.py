"""The ledger writer's crash-safe path over a real SQLite file: begin, complete, forget, sweep."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from imagegate.accounting.ledger import CrashSafety, LedgerWriter
from imagegate.accounting.ports import LedgerEntry
from imagegate.store import SqlLedgerStore
from imagegate.store.pending_attempts import SqlPendingAttempts
from tests.store.fixtures import migrated_sqlite_engine

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _unknown(request_id: str) -> LedgerEntry:
    return LedgerEntry(
        request_id=request_id,
        attempt=1,
        model="m",
        provider="openai",
        provider_model="m",
        route="openai/m",
        operation="generate",
        dialect="openai",
        status="unknown",
        created_at=NOW,
        cost_micros=10,
        cost_estimated=True,
    )


async def test_begin_is_durable_before_it_returns_and_the_outcome_completes_it(tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "ledger.db")
    pending = SqlPendingAttempts(engine)
    clock = [NOW]
    writer = LedgerWriter(
        SqlLedgerStore(engine),
        crash_safety=CrashSafety(pending, lease_s=60, sweep_interval_s=0.05),
        wall_clock=lambda: clock[0],
    )
    writer.start()
    try:
        await writer.begin(_unknown("req_a"))
        assert [item.entry.request_id for item in pending.pending()] == ["req_a"]
        writer.record(replace(_unknown("req_a"), status="ok", cost_estimated=False))
        assert writer.wait_idle(5)
        assert pending.pending() == []
        assert [row.status for row in SqlLedgerStore(engine).query_entries(request_id="req_a")] == ["ok"]

        # Cancelled while waiting for its pending record: no provider call, nothing left to resolve.
        task = asyncio.create_task(writer.begin(_unknown("req_b")))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert writer.wait_idle(5)
        assert pending.pending() == []

        # An attempt begun by a process that died (no renewal here) is swept once its lease passed.
        await writer.begin(_unknown("req_c"))
        writer._live.clear()  # as if its owner were another, dead process
        clock[0] = NOW + timedelta(seconds=61)
        deadline = asyncio.get_running_loop().time() + 5
        while SqlLedgerStore(engine).query_entries(request_id="req_c") == []:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        [row] = SqlLedgerStore(engine).query_entries(request_id="req_c")
        assert (row.status, row.cost_micros, row.cost_estimated) == ("unknown", 10, True)
    finally:
        writer.close()
        engine.dispose()
