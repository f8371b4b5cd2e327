"""``imagegate worker``: run jobs (and deliver webhooks) without serving HTTP.

With PostgreSQL, any number of workers and gateway replicas share procrastinate's queue; a job
runs in exactly one of them. The worker runs the same runtime as ``serve`` (routes, ledger,
pricing), so a job costs and records exactly what the synchronous call would.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from imagegate.app import build_runtime
from imagegate.cli.common import config_from, console, fail
from imagegate.config.settings import Settings
from imagegate.runtime import Runtime


async def run_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    """Start the runtime's job engine, webhook sender and ledger; run until ``stop`` is set."""
    if runtime.jobs is None or runtime.job_engine is None:
        raise RuntimeError("jobs are not enabled: no image storage is configured")
    runtime.ledger.start()
    if runtime.webhooks is not None:
        runtime.webhooks.start()
    await runtime.job_engine.start(runtime.jobs.run, runtime.jobs.due)
    try:
        await stop.wait()
    finally:
        await runtime.job_engine.stop()
        if runtime.webhooks is not None:
            await runtime.webhooks.stop()
        await runtime.http.aclose()
        runtime.ledger.close()
        runtime.engine.dispose()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def worker(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config (default: $IMAGEGATE_CONFIG)."),
) -> None:
    """Run image jobs from the shared queue until interrupted (PostgreSQL: beside any number of replicas)."""
    settings = Settings().model_copy(update={"jobs_run_in_gateway": True})
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = build_runtime(settings, config_from(config, settings))
    if runtime.jobs is None:
        raise fail("jobs are not enabled: configure image storage first")
    console.print("imagegate worker running jobs", highlight=False)

    async def main() -> None:
        await run_worker(runtime, stop_on_signals())

    asyncio.run(main())
