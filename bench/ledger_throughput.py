"""How many attempt rows per second the ledger writer sustains into PostgreSQL, and whether any is lost.

Drives the real ``LedgerWriter`` with crash safety (the local spool, pending records in the database)
the way the gateway does: many concurrent requests, each ``begin`` before a simulated provider call
and ``record`` after it, for ``--seconds``; then waits for the writer to drain and counts the rows
in a throwaway PostgreSQL database (127.0.0.1:5432, as the tests use). It prints, per setting of the
group-commit interval (``flush_interval_s``; 0 commits whatever is queued at once, as before group
commit), the rows offered per second, the rows stored per second including the drain, the rows
lost (offered minus stored: must be 0), and the process CPU per row. Settings alternate over
``--rounds`` so that other load on the machine hits each alike.

    PYTHONPATH=. .venv/bin/python bench/ledger_throughput.py --rounds 2 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from tests.store.fixtures import require_postgres, throwaway_pg_database

from imagegate.accounting.crash_safety import CrashSafety
from imagegate.accounting.ledger import LedgerWriter
from imagegate.accounting.ports import LedgerEntry
from imagegate.store import SqlLedgerStore, make_engine
from imagegate.store.attempt_spool import FileAttemptSpool
from imagegate.store.pending_attempts import SqlPendingAttempts


def _entry(request_id: str, status: str) -> LedgerEntry:
    return LedgerEntry(
        request_id=request_id,
        attempt=1,
        model="gpt-image-2",
        provider="openai",
        provider_model="gpt-image-2",
        route="gpt-image-2/openai/gpt-image-2",
        operation="generate",
        dialect="openai-images",
        status=status,
        created_at=datetime.now(UTC),
        cost_micros=19_805,
        cost_estimated=status == "unknown",
    )


async def _offer(writer: LedgerWriter, concurrency: int, seconds: float, call_s: float, tag: str) -> int:
    """Run ``concurrency`` request loops for ``seconds``; how many attempts were recorded."""
    stop_at = time.monotonic() + seconds
    counter = itertools.count()

    async def request_loop() -> int:
        done = 0
        while time.monotonic() < stop_at:
            request_id = f"req_{tag}_{next(counter)}"
            writer.begin(_entry(request_id, "unknown"))
            await asyncio.sleep(call_s)  # the provider call
            writer.record(_entry(request_id, "ok"))
            done += 1
        return done

    return sum(await asyncio.gather(*(request_loop() for _ in range(concurrency))))


class _CountingPending(SqlPendingAttempts):
    """The real pending-attempt store, counting the transactions that append ledger rows."""

    commits = 0

    def complete_attempts(self, entries: Sequence[LedgerEntry], begun: Sequence[tuple[str, int]]) -> None:
        type(self).commits += 1
        super().complete_attempts(entries, begun)


def _count(engine: sa.Engine, tag: str) -> int:
    with engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM ledger WHERE request_id LIKE :prefix")
        return int(conn.execute(query, {"prefix": f"req_{tag}_%"}).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--call-ms", type=float, default=5.0, help="the simulated provider call")
    parser.add_argument("--intervals", default="0,0.02", help="group-commit intervals (s) to compare")
    args = parser.parse_args()
    intervals = [float(value) for value in args.intervals.split(",")]
    require_postgres()
    totals: dict[float, list[float]] = {interval: [0, 0, 0.0, 0.0, 0.0, 0.0, 0] for interval in intervals}
    with throwaway_pg_database(prefix="imagegate_bench") as url:
        engine = make_engine(url)
        workdir = Path(tempfile.mkdtemp(prefix="imagegate-ledger-bench-"))
        try:
            for round_index in range(args.rounds):
                for interval in intervals:
                    _CountingPending.commits = 0
                    safety = CrashSafety(_CountingPending(engine), FileAttemptSpool(workdir / f"spool{interval}"))
                    writer = LedgerWriter(SqlLedgerStore(engine), crash_safety=safety, flush_interval_s=interval)
                    writer.start()
                    tag = f"{round_index}_{str(interval).replace('.', '')}"
                    started, cpu_before = time.monotonic(), time.process_time()
                    offered = asyncio.run(_offer(writer, args.concurrency, args.seconds, args.call_ms / 1000, tag))
                    offered_at = time.monotonic()
                    assert writer.wait_idle(120), "the ledger writer did not drain"
                    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_before
                    writer.close()
                    total = totals[interval]
                    total[0] += offered
                    total[1] += _count(engine, tag)
                    total[2] += elapsed
                    total[3] += cpu
                    total[4] += args.seconds
                    total[5] += elapsed - (offered_at - started)
                    total[6] += _CountingPending.commits
        finally:
            engine.dispose()
    for interval, (offered, stored, elapsed, cpu, offered_s, drain, commits) in totals.items():
        print(
            f"flush_interval_s={interval:<5} offered {offered / offered_s:6.0f} rows/s, stored {stored / elapsed:6.0f} "
            f"rows/s (incl. drain), lost {int(offered - stored)}, rows per commit {stored / max(commits, 1):5.1f}, "
            f"drain after the load {drain / args.rounds * 1e3:5.0f} ms, process CPU per row {cpu / max(stored, 1) * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
