"""A process killed mid-request: its hold lapses with the lease, and its attempt, swept into the
ledger at the quote, is counted as spent (budget neither lost for good nor counted twice). And a
budget refuses models without a price."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from imagegate.accounting.admission import Admission, period_bucket
from imagegate.accounting.auth import Principal
from imagegate.accounting.crash_safety import CrashSafety
from imagegate.accounting.ledger import LedgerWriter
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import RequestExceedsLimit
from imagegate.domain.limits import Limits
from imagegate.pricing.charge import Charge
from imagegate.service.admission import AdmissionGate
from imagegate.store import SqlKeyStore, SqlLedgerStore
from imagegate.store.attempt_spool import FileAttemptSpool
from imagegate.store.pending_attempts import SqlPendingAttempts
from imagegate.store.sql_admission import SqlAdmissionStore
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.ledger_rows import ledger_row

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CALLER = Principal(
    key_id=0,  # replaced by the stored key's id
    key_name="dies",
    models=None,
    team_id=3,
    team_name="crashers",
    key_limits=Limits(budget_micros=100_000, max_concurrent=1),
    team_limits=Limits(image_quota=10),
)


def _pending(request_id: str, caller: Principal) -> LedgerEntry:
    return ledger_row(
        request_id,
        status="unknown",
        created_at=NOW,
        key_id=caller.key_id,
        key_name=caller.key_name,
        team=caller.team_name,
        cost_micros=40_000,
        cost_estimated=True,
    )


async def test_a_killed_processs_hold_lapses_and_its_swept_attempt_is_counted(tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "swept.db")
    record = SqlKeyStore(engine).create_key(name="dies", prefix="ig-dies", key_hash="d" * 64, models=None)
    caller = dataclasses.replace(CALLER, key_id=record.id)
    holder = f"key:{record.id}"
    clock = [NOW]
    store = SqlAdmissionStore(engine)
    admission = Admission(store, lease_s=120, clock=lambda: clock[0])
    gate = AdmissionGate(admission)
    gate.bind(asyncio.get_running_loop())
    writer = LedgerWriter(
        SqlLedgerStore(engine),
        crash_safety=CrashSafety(
            SqlPendingAttempts(engine),
            FileAttemptSpool(tmp_path / "spool"),
            lease_s=60,
            sweep_interval_s=0.05,
            promote_after_s=0.0,  # the pending record at once, as with shared (Redis) admission
            on_resolved=gate.swept,
        ),
        wall_clock=lambda: clock[0],
    )
    writer.start()
    try:
        # The dying process: admitted (holds 40k and the one concurrency slot), its attempt begun.
        await admission.reserve(caller, 40_000, 1)
        writer.begin(_pending("req_dead", caller))
        assert writer.wait_idle(5.0)  # begun and promoted to its pending record
        writer._attempts._live.clear()  # its process is gone: nobody renews the pending row
        usd = period_bucket("usd", "month", NOW, admission._zone)[0]
        assert store.usage_now(holder, usd, clock[0]) == (0, 40_000)

        clock[0] = NOW + timedelta(seconds=61)  # the sweeper writes the row at its quote
        deadline = asyncio.get_running_loop().time() + 5
        while store.usage_now(holder, usd, clock[0])[0] == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        assert store.usage_now(holder, usd, clock[0]) == (40_000, 40_000)  # counted; the hold not yet lapsed

        clock[0] = NOW + timedelta(seconds=121)  # the lease ran out: the hold counts for nothing
        assert store.usage_now(holder, usd, clock[0]) == (40_000, 0)
        assert store.usage_now(holder, "conc", clock[0]) == (0, 0)
        await admission.reserve(caller, 60_000, 1)  # exactly what is left: never lost, never twice
    finally:
        writer.close()
        engine.dispose()


async def test_a_budgeted_caller_cannot_use_an_unpriced_model(tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "unpriced.db")
    gate = AdmissionGate(Admission(SqlAdmissionStore(engine), clock=lambda: NOW))
    unpriced = Charge(micros=0, estimated=True, breakdown={}, unit="unpriced")
    with pytest.raises(RequestExceedsLimit) as refused:
        await gate.admit("req_unpriced", CALLER, unpriced, 1)
    assert (refused.value.code, refused.value.param) == ("unpriced_model", "model")
    # Without a budget (an image quota only) an unpriced model is fine: images are still counted.
    quota_only = dataclasses.replace(CALLER, key_limits=Limits(image_quota=5))
    ticket = await gate.admit("req_quota", quota_only, unpriced, 1)
    assert ticket is not None and gate.ticket("req_quota") is ticket
    await gate.finish("req_quota")
    await gate.drain()
    engine.dispose()
