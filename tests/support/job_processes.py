"""``python -m tests.support.job_processes serve|worker``: a gateway or a worker process with the
tests' disk image store, built exactly as ``imagegate serve`` / ``imagegate worker`` build theirs.

Settings come from the environment (``IMAGEGATE_*``); the store from ``--images-root`` and
``--images-url`` (a file server the test runs). Used by tests that SIGKILL a process or run
several replicas.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import uvicorn

from imagegate.app import build_runtime, create_app
from imagegate.cli.worker import run_worker, stop_on_signals
from imagegate.config.file import load_config
from imagegate.config.settings import Settings
from tests.support.disk_store import DiskImageStore


def main() -> None:
    """Parse the arguments and run the chosen process until it is signalled."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["serve", "worker"])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--images-root", type=Path, required=True)
    parser.add_argument("--images-url", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    settings = Settings()
    if args.role == "worker":
        settings = settings.model_copy(update={"jobs_run_in_gateway": True})
    store = DiskImageStore(args.images_root, args.images_url)
    runtime = build_runtime(settings, load_config(args.config), image_store=store)
    if args.role == "serve":
        uvicorn.run(create_app(runtime), host="127.0.0.1", port=args.port, log_level="warning")
        return

    async def work() -> None:
        await run_worker(runtime, stop_on_signals())

    asyncio.run(work())


if __name__ == "__main__":
    main()
