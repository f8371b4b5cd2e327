"""What every job engine shares: the two callables the job service gives it, and the resumer loop.

The engines (``service.job_pool``'s embedded pool, ``store/procrastinate_engine.py`` on PostgreSQL)
run ``Run`` for a job id and ask ``Due`` for the jobs nobody runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("imagegate.jobs")

Run = Callable[[str], Awaitable[None]]
Due = Callable[[], Awaitable[list[str]]]


async def resume_forever(due: Due, enqueue: Callable[[str], Awaitable[None]], interval_s: float) -> None:
    """Every ``interval_s``, hand the jobs nobody runs (``due``) to the engine again (any engine)."""
    while True:
        try:
            for job_id in await due():
                await enqueue(job_id)
        except Exception:
            log.exception("looking for jobs to resume failed; retrying")
        await asyncio.sleep(interval_s)
