"""Batch cost on the gateway side: submitting N requests and settling them into N ledger rows.

The provider is the sandbox (its own process-local server, OpenAI Batch API); the database a
fresh SQLite file. Every line asks for the same low-quality image, so the sandbox's render cache
keeps its share of the settle step small. Prints, per line: submit (validate, plan, build the
wire request, upload, create), settle (the completing poll: the sandbox runs the lines, then the
gateway downloads, parses, prices and writes one ledger row each) and results (download again,
decode, write files).

    python bench/batch_settle.py [--lines 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from imagegate.config.file import parse_config
from imagegate.domain.request import ImageRequest
from imagegate.providers.http import HttpExecutor
from imagegate.providers.registry import builtin_registry
from imagegate.route_config import build_route_table, facts_from_catalog
from imagegate.sandbox.config import SandboxConfig
from imagegate.sandbox.server import running_sandbox
from imagegate.service.batches import BatchInput, BatchService
from imagegate.service.plan import plan_request
from imagegate.store.batches import SqlBatchStore
from imagegate.store.database import make_engine
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.migrate import upgrade_database


async def run(lines: int, sandbox_url: str, directory: Path) -> dict[str, float]:
    """Seconds per line for submit, settle and results."""
    from imagegate.catalog import load_catalog

    config = parse_config(
        {
            "models": [
                {
                    "name": "gpt",
                    "routes": [
                        {"provider": "openai", "model": "gpt-image-2", "base_url": f"{sandbox_url}/v1", "api_key": "sk"}
                    ],
                }
            ]
        },
        env={},
    )
    routes, registry, facts = build_route_table(config), builtin_registry(), facts_from_catalog(load_catalog())
    engine = make_engine(f"sqlite:///{directory / 'bench.db'}")
    upgrade_database(engine)
    ledger = SqlLedgerStore(engine)
    http = HttpExecutor()

    def planner(request_id: str, request: ImageRequest, principal: Any) -> Any:
        return plan_request(
            request_id=request_id, request=request, principal=principal, routes=routes, registry=registry, facts=facts
        )

    service = BatchService(
        planner=planner,
        http=http,
        store=SqlBatchStore(engine),
        record_entry=lambda entry: ledger.append_entries([entry]),
    )
    inputs = [
        BatchInput(f"r{i}", ImageRequest("generate", "gpt", "a lighthouse", "openai-images", quality="low"))
        for i in range(lines)
    ]
    out = directory / "out"
    out.mkdir()

    async def to_directory(name: str, data: bytes, content_type: str) -> None:
        (out / name).write_bytes(data)

    try:
        started = time.perf_counter()
        record = await service.submit(inputs, "gpt")
        submitted = time.perf_counter()
        await service.refresh(record.id)  # first read: still running
        polled = time.perf_counter()
        settled_record = await service.refresh(record.id)  # second read: completes and settles
        settled = time.perf_counter()
        assert settled_record.settled and settled_record.succeeded == lines
        await service.results(record.id, to_directory)
        finished = time.perf_counter()
    finally:
        await http.aclose()
        engine.dispose()
    return {
        "submit": (submitted - started) / lines,
        "settle": (settled - polled) / lines,
        "results": (finished - settled) / lines,
    }


def main() -> None:
    """Parse the arguments, run once, print milliseconds per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500)
    args = parser.parse_args()
    with running_sandbox(SandboxConfig()) as url, tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run(args.lines, url, Path(tmp)))
    for step, seconds in figures.items():
        print(f"{step:8} {seconds * 1000:8.2f} ms per line ({args.lines} lines)")


if __name__ == "__main__":
    main()
