"""A running job's lease: renewed while the run lasts, and the run stopped once it is lost.

Another process cancelling the job (or taking it over after a lapse) makes the renewal fail;
the run is then cancelled here, and what it produced is not kept (``JobService.run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread

from imagegate.accounting.jobs import JobOutcome, JobStore

log = logging.getLogger("imagegate.jobs")


@dataclass
class Execution:
    """The run's task, set by the caller inside ``leased`` (cancelled when the lease is lost)."""

    task: asyncio.Future[JobOutcome] | None = None


@contextlib.asynccontextmanager
async def leased(
    store: JobStore, job_id: str, *, owner: str, lease_s: float, clock: Callable[[], datetime]
) -> AsyncIterator[Execution]:
    """Renew ``job_id``'s lease every third of ``lease_s`` while the block runs."""
    execution = Execution()

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            lease_until = clock() + timedelta(seconds=lease_s)
            try:
                owned = await anyio.to_thread.run_sync(
                    functools.partial(store.renew, job_id, owner=owner, lease_until=lease_until)
                )
            except Exception:
                log.warning("renewing the lease of job %s failed; retrying", job_id, exc_info=True)
                continue
            if not owned and execution.task is not None:
                execution.task.cancel()
                return

    heartbeat = asyncio.create_task(renew(), name=f"imagegate-job-lease-{job_id}")
    try:
        yield execution
    finally:
        heartbeat.cancel()
