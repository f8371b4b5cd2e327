"""Admission overhead per request: the time the pipeline spends in admission, limits on vs off.

Runs the exact calls the image service makes for one request (``admit`` before the attempt loop,
``before_attempt``, the attempt observer, ``finish``, whose settlement runs on in the background as
in the service) sequentially, for a caller whose key has every
kind of limit (budget, image quota, rpm, ipm, concurrency) and whose team has a budget too: the
worst case, two holders and six buckets. "Off" is the same caller without limits (admission is
skipped). Stores: Redis (``IMAGEGATE_REDIS_URL``, default loopback) and SQLite (no Redis).

    python bench/admission.py [--requests 2000]

Prints p50 and p99 added latency per request, in milliseconds, for each store.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis

from imagegate.accounting.admission import Admission, AdmissionStore
from imagegate.accounting.auth import Principal
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.limits import Limits
from imagegate.pricing.charge import Charge
from imagegate.service.admission import AdmissionGate
from imagegate.store import make_engine, upgrade_database
from imagegate.store.redis_admission import RedisAdmissionStore
from imagegate.store.sql_admission import SqlAdmissionStore, ledger_seeder
from imagegate.wiring import redis_client_for

QUOTE = Charge(micros=11_004, estimated=True, breakdown={}, unit="token")
LIMITED = Principal(
    key_id=1,
    key_name="bench",
    models=None,
    team_id=1,
    team_name="bench-team",
    key_limits=Limits(
        budget_micros=10**15, image_quota=10**9, rpm=10**9, ipm=10**9, max_concurrent=10_000, budget_period="day"
    ),
    team_limits=Limits(budget_micros=10**15),
)
UNLIMITED = Principal(key_id=2, key_name="free", models=None)


def _entry(request_id: str) -> LedgerEntry:
    return LedgerEntry(
        request_id=request_id,
        attempt=1,
        model="gpt-image-1-mini",
        provider="openai",
        provider_model="gpt-image-1-mini",
        route="r",
        operation="generate",
        dialect="openai",
        status="ok",
        created_at=datetime.now(UTC),
        images=1,
        cost_micros=10_000,
    )


async def one_request(gate: AdmissionGate, principal: Principal, request_id: str) -> float:
    """Seconds spent in admission for one request, as the image service calls it."""
    started = time.perf_counter()
    ticket = await gate.admit(request_id, principal, QUOTE, 1)
    if ticket is not None:
        await gate.before_attempt(ticket, 1, QUOTE, 1)
        gate.observe(_entry(request_id))
        await gate.finish(request_id)  # the settlement runs on, off the response path
    elapsed = time.perf_counter() - started
    # In a server the settlement overlaps the next requests' provider calls; here it would overlap
    # the next admission and bill it for a round trip it does not wait for, so let it land untimed.
    await gate.drain()
    return elapsed


async def measure(store: AdmissionStore, requests: int) -> dict[str, list[float]]:
    gate = AdmissionGate(Admission(store))
    timings: dict[str, list[float]] = {"on": [], "off": []}
    for warmup in range(50):
        await one_request(gate, LIMITED, f"warm-{warmup}")
    for i in range(requests):
        # Alternate so drift on the machine hits both sides alike.
        timings["on"].append(await one_request(gate, LIMITED, f"on-{i}"))
        timings["off"].append(await one_request(gate, UNLIMITED, f"off-{i}"))
    return timings


def report(label: str, timings: dict[str, list[float]]) -> None:
    def quantiles(values: list[float]) -> tuple[float, float]:
        cuts = statistics.quantiles(values, n=100)
        return cuts[49] * 1000, cuts[98] * 1000

    on50, on99 = quantiles(timings["on"])
    off50, _ = quantiles(timings["off"])
    print(
        f"{label:<7} limits on: p50 {on50:.3f} ms  p99 {on99:.3f} ms | off: p50 {off50:.4f} ms | "
        f"added p50 {on50 - off50:.3f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        engine = make_engine(f"sqlite:///{Path(workdir) / 'bench.db'}")
        upgrade_database(engine)
        url = os.environ.get("IMAGEGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
        client = redis_client_for(url)
        prefix = f"imagegate-bench:{uuid.uuid4().hex}:"
        try:
            # The floor on this machine now: one Redis round trip (a loaded host or a busy shared
            # Redis shows here first).
            pings = []
            for _ in range(200):
                started = time.perf_counter()
                await client.ping()
                pings.append(time.perf_counter() - started)
            print(f"redis   ping p50 {statistics.median(pings) * 1000:.3f} ms (one round trip, for reference)")
            store = RedisAdmissionStore(client, ledger_seeder(engine), prefix=prefix)
            report("redis", await measure(store, args.requests))
            report("sqlite", await measure(SqlAdmissionStore(engine), args.requests))
        finally:
            cleanup = aioredis.Redis.from_url(url)
            stale = [key async for key in cleanup.scan_iter(match=prefix + "*")]
            if stale:
                await cleanup.delete(*stale)
            await cleanup.aclose()
            await client.aclose()
            engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
