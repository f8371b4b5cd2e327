"""``usage export`` over a large ledger: rows per second and how much memory the export adds.

Fills a fresh SQLite ledger with ``--rows`` rows (default one million, written in batches), then
streams them all through ``service.usage_export.export_chunks`` (what ``imagegate usage export``
and ``GET /admin/usage/export`` run), counting bytes without keeping them.

    python bench/usage_export.py [--rows 1000000] [--format jsonl|csv]

Prints the export's throughput and the process's peak RSS before and after the export: a flat
peak means the rows were streamed, not loaded.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from imagegate.accounting.ledger_scan import LedgerFilter
from imagegate.accounting.ports import LedgerEntry
from imagegate.service.usage_export import export_chunks
from imagegate.store import make_engine, upgrade_database
from imagegate.store.ledger import SqlLedgerStore

START = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 20_000


def row(i: int) -> LedgerEntry:
    return LedgerEntry(
        request_id=f"req_{i:032x}",
        attempt=1,
        model="gpt-image-2",
        provider="openai",
        provider_model="gpt-image-2",
        route="gpt-image-2/openai/gpt-image-2",
        operation="generate",
        dialect="openai-images",
        status="ok",
        created_at=START + timedelta(seconds=i),
        key_name=f"key-{i % 50}",
        team=f"team-{i % 7}",
        tags={"env": "prod"},
        images=1,
        usage={"input_tokens": 20, "output_tokens": 196, "output_tokens_details": {"image_tokens": 196}},
        cost_micros=5_880 + i % 1000,
        latency_ms=800 + i % 400,
        provider_request_id=f"req_up_{i:024x}",
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-export-") as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'ledger.db'}")
        upgrade_database(engine)
        store = SqlLedgerStore(engine)
        began = time.perf_counter()
        for start in range(0, args.rows, BATCH):
            store.append_entries([row(i) for i in range(start, min(args.rows, start + BATCH))])
        filled = time.perf_counter() - began
        before = peak_rss_mb()
        began = time.perf_counter()
        total = rows = 0
        for chunk in export_chunks(store, LedgerFilter(), args.format):
            total += len(chunk)
            rows += chunk.count(b"\n")
        took = time.perf_counter() - began
        after = peak_rss_mb()
        engine.dispose()
    print(f"ledger: {args.rows:,} rows written in {filled:.1f} s")
    print(
        f"export ({args.format}): {rows:,} lines, {total / 1e6:,.0f} MB in {took:.1f} s "
        f"({args.rows / took:,.0f} rows/s)"
    )
    print(f"peak RSS: {before:,.0f} MB before the export, {after:,.0f} MB after (+{after - before:,.0f} MB)")


if __name__ == "__main__":
    main()
