"""Garbage-collection pauses in a started gateway, with and without its start-up heap frozen.

Python's cyclic collector stops the event loop while it runs; a full (generation 2) collection
walks every tracked object, and a started gateway holds several hundred thousand of them (modules,
the catalog, pydantic and SQLAlchemy metadata, pools). Requests allocate fast enough to trigger such
collections now and then, which shows as a p99 far above p50 at concurrency 32. ``serve`` freezes
what start-up allocated (``create_app(freeze_startup_heap=True)``: one collection, then
``gc.freeze()``), so collections walk only what requests allocated since.

This script starts the gateway's app in-process the way ``serve`` does (the wrk harness's config:
SQLite, one route), runs its start-up, and times full collections before and after the freeze:

    .venv/bin/python bench/gc_pauses.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

from gateway_overhead import write_bench_config

from imagegate.app import build_runtime
from imagegate.config.file import load_config
from imagegate.config.settings import Settings
from imagegate.runtime import create_app


def full_collections(rounds: int) -> list[float]:
    """Milliseconds each of ``rounds`` full collections took."""
    pauses = []
    for _ in range(rounds):
        started = time.perf_counter()
        gc.collect()
        pauses.append((time.perf_counter() - started) * 1000)
    return pauses


async def measure(rounds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-gc-"))
    os.environ.update(
        {
            "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/imagegate.db",
            "IMAGEGATE_MASTER_KEY": "bench-master-key",
            "IMAGEGATE_DATA_DIR": str(workdir / "data"),
        }
    )
    config = load_config(write_bench_config(workdir, 9))
    app = create_app(build_runtime(Settings(), config))
    async with app.router.lifespan_context(app):
        tracked = len(gc.get_objects())
        before = full_collections(rounds)
        gc.freeze()
        after = full_collections(rounds)
        left = len(gc.get_objects())
        gc.unfreeze()
    print(f"objects the collector tracks in a started gateway: {tracked:,} (after the freeze: {left:,})")
    print(
        f"full collection, start-up heap not frozen: median {statistics.median(before):.1f} ms, max {max(before):.1f} ms"
    )
    print(
        f"full collection, start-up heap frozen:     median {statistics.median(after):.1f} ms, max {max(after):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(measure(args.rounds))


if __name__ == "__main__":
    main()
