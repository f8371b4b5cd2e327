"""The ledger writer's crash-safe path over a real SQLite file: begin, complete, forget, sweep."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson

from imagegate.accounting.crash_safety import CrashSafety
from imagegate.accounting.ledger import LedgerWriter
from imagegate.accounting.ports import LedgerEntry, PendingAttempt
from imagegate.store import SqlLedgerStore
from imagegate.store.attempt_spool import FileAttemptSpool, lines_of
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


def _writer(tmp_path, clock, **safety) -> tuple[LedgerWriter, SqlPendingAttempts, FileAttemptSpool]:
    engine = migrated_sqlite_engine(tmp_path / "ledger.db")
    pending = SqlPendingAttempts(engine)
    spool = FileAttemptSpool(tmp_path / "spool")
    writer = LedgerWriter(
        SqlLedgerStore(engine),
        crash_safety=CrashSafety(pending, spool, **{"lease_s": 60, "sweep_interval_s": 0.05, **safety}),
        wall_clock=lambda: clock[0],
    )
    return writer, pending, spool


def _spooled(spool: FileAttemptSpool) -> list[str]:
    return [orjson.loads(line)["entry"]["request_id"] for line in lines_of(spool.path.read_bytes())]


async def test_begin_is_spooled_at_once_and_a_short_attempt_never_touches_the_pending_table(tmp_path):
    clock = [NOW]
    writer, pending, spool = _writer(tmp_path, clock, promote_after_s=60)
    writer.start()
    try:
        writer.begin(_unknown("req_a"))
        # Durable against a kill the moment begin() returns: the line is in the spool file.
        assert _spooled(spool) == ["req_a"]
        writer.record(replace(_unknown("req_a"), status="ok", cost_estimated=False))
        assert writer.wait_idle(5)
        assert pending.pending() == []
        assert [row.status for row in SqlLedgerStore(pending._bind).query_entries(request_id="req_a")] == ["ok"]
    finally:
        writer.close()
    assert not spool.path.exists()  # closed with nothing open: removed


class _HangingPendingStore(SqlPendingAttempts):
    """A database that hangs on the pending insert until released."""

    def __init__(self, bind, release: threading.Event) -> None:
        super().__init__(bind)
        self._release = release

    def begin_attempts(self, pending) -> None:
        self._release.wait(10)
        super().begin_attempts(pending)


async def test_begin_never_waits_for_the_database(tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "ledger.db")
    release = threading.Event()
    pending = _HangingPendingStore(engine, release)
    spool = FileAttemptSpool(tmp_path / "spool")
    writer = LedgerWriter(SqlLedgerStore(engine), crash_safety=CrashSafety(pending, spool, promote_after_s=0))
    writer.start()
    try:
        for request_id in ("req_a", "req_b"):
            writer.begin(_unknown(request_id))  # returns while the writer thread hangs in the database
        assert _spooled(spool) == ["req_a", "req_b"]
        assert SqlPendingAttempts(engine).pending() == []
        release.set()
        assert writer.wait_idle(5)
        assert sorted(item.entry.request_id for item in pending.pending()) == ["req_a", "req_b"]
    finally:
        release.set()
        writer.close()
        engine.dispose()


async def test_a_long_attempt_is_promoted_completed_and_a_dead_one_swept(tmp_path):
    clock = [NOW]
    writer, pending, _spool = _writer(tmp_path, clock, promote_after_s=0)
    writer.start()
    ledger = SqlLedgerStore(pending._bind)
    try:
        writer.begin(_unknown("req_a"))
        assert writer.wait_idle(5)
        assert [item.entry.request_id for item in pending.pending()] == ["req_a"]
        writer.record(replace(_unknown("req_a"), status="ok", cost_estimated=False))
        assert writer.wait_idle(5)
        assert pending.pending() == []
        assert [row.status for row in ledger.query_entries(request_id="req_a")] == ["ok"]

        # Refused before its provider call: nothing left to resolve.
        writer.begin(_unknown("req_b"))
        writer.forget("req_b", 1)
        assert writer.wait_idle(5)
        assert pending.pending() == []

        # An attempt begun by a process that died (no renewal here) is swept once its lease passed.
        writer.begin(_unknown("req_c"))
        assert writer.wait_idle(5)
        writer._attempts._live.clear()  # as if its owner were another, dead process
        clock[0] = NOW + timedelta(seconds=61)
        await _until(lambda: ledger.query_entries(request_id="req_c") != [])
        [row] = ledger.query_entries(request_id="req_c")
        assert (row.status, row.cost_micros, row.cost_estimated) == ("unknown", 10, True)
    finally:
        writer.close()


async def test_the_spool_of_a_killed_process_is_recovered_as_unknown_rows(tmp_path):
    clock = [NOW]
    engine = migrated_sqlite_engine(tmp_path / "ledger.db")
    ledger = SqlLedgerStore(engine)
    dead = FileAttemptSpool(tmp_path / "spool")
    for request_id in ("req_lost", "req_done"):
        dead.append(PendingAttempt(_unknown(request_id), NOW + timedelta(seconds=60)))
    ledger.append_entries([replace(_unknown("req_done"), status="ok")])  # its outcome made it
    dead.close()  # open attempts: the file stays, unlocked, as after a SIGKILL
    assert _spooled(dead) == ["req_lost", "req_done"]

    writer, _pending, _spool = _writer(tmp_path, clock, promote_after_s=60)
    writer.start()
    try:
        await _until(lambda: ledger.query_entries(request_id="req_lost") != [])
        [row] = ledger.query_entries(request_id="req_lost")
        assert (row.status, row.error_code, row.cost_estimated) == ("unknown", None, True)
        assert [row.status for row in ledger.query_entries(request_id="req_done")] == ["ok"]
        assert not dead.path.exists()
    finally:
        writer.close()
        engine.dispose()


def test_the_spool_is_compacted_to_its_open_attempts(tmp_path):
    spool = FileAttemptSpool(tmp_path, compact_bytes=2000)
    for index in range(10):
        spool.append(PendingAttempt(_unknown(f"req_{index}"), NOW))
    spool.discard([(f"req_{index}", 1) for index in range(9)])
    assert _spooled(spool) == ["req_9"]
    spool.append(PendingAttempt(_unknown("req_10"), NOW))
    assert _spooled(spool) == ["req_9", "req_10"]
    # A live process's spool is never taken by another.
    other = FileAttemptSpool(tmp_path)
    assert other.recover() == []
    other.close()
    spool.close()


async def _until(condition) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while not condition():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


class _CountingLedger(SqlLedgerStore):
    """The real ledger store, counting its transactions."""

    def __init__(self, bind) -> None:
        super().__init__(bind)
        self.commits = 0

    def append_entries(self, entries) -> None:
        self.commits += 1
        super().append_entries(entries)


def test_rows_queued_together_share_one_commit_and_close_flushes_a_lingering_batch(tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "ledger.db")
    ledger = _CountingLedger(engine)
    writer = LedgerWriter(ledger, flush_interval_s=0.5)
    for number in range(50):  # queued before the thread runs: one group
        writer.record(replace(_unknown(f"req_{number}"), status="ok"))
    writer.start()
    assert writer.wait_idle(5)
    assert ledger.commits == 1
    assert len(ledger.query_entries(limit=1000)) == 50

    for number in range(50, 60):
        writer.record(replace(_unknown(f"req_{number}"), status="ok"))
    writer.close()  # the thread may be sleeping out its interval: closing still stores every row
    assert len(ledger.query_entries(limit=1000)) == 60
    engine.dispose()


async def test_an_idle_writer_still_wakes_to_promote_a_long_attempt(tmp_path):
    clock = [NOW]
    # No sweep due for an hour: only the promotion deadline can wake the thread.
    writer, pending, _spool = _writer(tmp_path, clock, promote_after_s=0.1, sweep_interval_s=3600)
    writer.start()
    try:
        writer.begin(_unknown("req_long"))
        # Nothing else is queued: the thread sleeps until the attempt is due, then promotes it.
        await _until(lambda: [item.entry.request_id for item in pending.pending()] == ["req_long"])
    finally:
        writer.close()


async def test_a_held_attempt_outlives_its_lease_and_its_row_is_written_once(tmp_path):
    clock = [NOW]
    writer, pending, _spool = _writer(tmp_path, clock, promote_after_s=60)
    writer.start()
    ledger = SqlLedgerStore(pending._bind)
    held_until = NOW + timedelta(days=1)
    try:
        writer.begin(_unknown("req_held"))
        assert await asyncio.wrap_future(writer.hold("req_held", 1, held_until))
        assert [(item.entry.request_id, item.resolve_after) for item in pending.pending()] == [("req_held", held_until)]
        # Far past the lease, a sweep (any replica's) leaves it alone.
        assert pending.resolve_stale_attempts(NOW + timedelta(hours=1)) == []
        # The same process learns the outcome: its plain record settles the held attempt.
        writer.record(replace(_unknown("req_held"), status="ok", cost_estimated=False))
        assert writer.wait_idle(5)
        assert pending.pending() == []
        assert [row.status for row in ledger.query_entries(request_id="req_held")] == ["ok"]
        # Another process resuming it later finds it recorded: nothing is written twice.
        writer.settle(replace(_unknown("req_held"), status="ok", cost_estimated=False))
        assert writer.wait_idle(5)
        assert [row.status for row in ledger.query_entries(request_id="req_held")] == ["ok"]
        assert not await asyncio.wrap_future(writer.hold("req_unknown", 1, held_until))  # never begun here
    finally:
        writer.close()
