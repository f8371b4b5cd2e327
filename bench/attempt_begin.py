"""What crash-safe attempt recording costs a request: the begin before each provider call.

Drives the real ``LedgerWriter`` over a SQLite file as the gateway does (begin, a simulated provider
call, record) at concurrency 1 and 32, and prints how long the request waited in ``begin`` (p50,
p99) and the process CPU per attempt (begin + record + the writer thread's database work). It works
against this build and against an older one (``PYTHONPATH=<other src>``, whose ``begin`` is awaited),
so before/after can be compared on one machine in one sitting, alternating:

    python bench/attempt_begin.py --rounds 3                 # this build
    PYTHONPATH=/tmp/main/src python bench/attempt_begin.py   # another build

Unlike ``gateway_overhead.py`` it needs no spare cores: the figure is the begin itself, not the
end-to-end latency that other processes on a busy machine blur.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagegate.accounting import ledger as ledger_module
from imagegate.accounting.ports import LedgerEntry
from imagegate.store import SqlLedgerStore, make_engine, upgrade_database
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


def _writer(workdir: Path) -> Any:
    engine = make_engine(f"sqlite:///{workdir}/bench.db")
    upgrade_database(engine)
    fields = ledger_module.CrashSafety.__dataclass_fields__
    if "spool" in fields:  # this build: a local spool
        from imagegate.store.attempt_spool import FileAttemptSpool

        safety = ledger_module.CrashSafety(SqlPendingAttempts(engine), FileAttemptSpool(workdir / "spool"))
    else:  # the build before: the pending row awaited in the database
        safety = ledger_module.CrashSafety(SqlPendingAttempts(engine))
    writer = ledger_module.LedgerWriter(SqlLedgerStore(engine), crash_safety=safety)
    writer.start()
    return writer


async def _run(writer: Any, concurrency: int, per_worker: int, call_s: float, tag: str) -> list[float]:
    waits: list[float] = []

    async def worker(index: int) -> None:
        for number in range(per_worker):
            request_id = f"req_{tag}_{index}_{number}"
            started = time.perf_counter()
            begun = writer.begin(_entry(request_id, "unknown"))
            if inspect.isawaitable(begun):
                await begun
            waits.append(time.perf_counter() - started)
            await asyncio.sleep(call_s)  # the provider call
            writer.record(_entry(request_id, "ok"))

    await asyncio.gather(*(worker(index) for index in range(concurrency)))
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--attempts", type=int, default=200, help="attempts per concurrency level and round")
    parser.add_argument("--call-ms", type=float, default=20.0, help="the simulated provider call")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-begin-"))
    writer = _writer(workdir)
    print(f"build: {Path(ledger_module.__file__).parents[2]}")
    try:
        for concurrency in (1, 32):
            waits: list[float] = []
            cpu = 0.0
            attempts = 0
            for round_index in range(args.rounds):
                cpu_before = time.process_time()
                per_worker = max(1, args.attempts // concurrency)
                waits += asyncio.run(
                    _run(writer, concurrency, per_worker, args.call_ms / 1000, f"{concurrency}_{round_index}")
                )
                assert writer.wait_idle(60), "the ledger writer did not catch up"
                cpu += time.process_time() - cpu_before
                attempts += per_worker * concurrency
            ordered = sorted(waits)
            p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
            print(
                f"concurrency {concurrency:2d}: begin wait p50 {statistics.median(waits) * 1000:.3f} ms, "
                f"p99 {p99 * 1000:.3f} ms; process CPU per attempt {cpu / attempts * 1000:.3f} ms"
            )
    finally:
        writer.close()


if __name__ == "__main__":
    main()
