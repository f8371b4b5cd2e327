"""The embedded job engine: jobs run in this process, as asyncio tasks, at most ``concurrency`` at once.

Used with SQLite (one machine, no other service). The queue is the ``image_jobs`` table itself:
``enqueue`` starts a task at once (it waits for a free slot), and a resumer asks the job service
every ``resume_interval_s`` for jobs nobody runs (queued before a restart, or left
``in_progress`` by a process that died) and starts those. Claiming a job is a conditional update,
so a second process over the same database (``serve --workers N``) never runs a job twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from imagegate.accounting.job_queue import Due, Run, resume_forever

log = logging.getLogger("imagegate.jobs")

__all__ = ["Due", "LocalJobPool", "Run", "resume_forever"]


class LocalJobPool:
    """In-process runner for jobs (see the module docstring); implements ``service.jobs.JobEngine``."""

    def __init__(self, *, concurrency: int = 4, resume_interval_s: float = 15.0, drain_s: float = 0.0) -> None:
        self._concurrency = concurrency
        self._resume_interval_s = resume_interval_s
        self._drain_s = drain_s
        self._draining = False
        self._started: set[str] = set()
        self._slots: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._resumer: asyncio.Task[None] | None = None
        self._run: Run | None = None

    async def start(self, run: Run, due: Due) -> None:
        """Begin running jobs (call on the serving event loop): resume what was left, then keep watching."""
        self._run = run
        self._slots = asyncio.Semaphore(self._concurrency)
        self._resumer = asyncio.create_task(
            resume_forever(due, self.enqueue, self._resume_interval_s), name="imagegate-job-resumer"
        )

    async def enqueue(self, job_id: str) -> None:
        """Run ``job_id`` in this process, once a slot is free (no-op when it is already waiting or running)."""
        if self._run is None or job_id in self._tasks:
            return
        self._tasks[job_id] = asyncio.create_task(self._one(job_id), name=f"imagegate-job-{job_id}")

    def cancel_local(self, job_id: str) -> None:
        """Stop the job's task if it waits or runs here."""
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()

    async def _one(self, job_id: str) -> None:
        assert self._slots is not None and self._run is not None
        try:
            async with self._slots:
                if self._draining:
                    return  # stopping: the job stays queued in the database and runs after the restart
                self._started.add(job_id)
                await self._run(job_id)
        except asyncio.CancelledError:
            pass  # cancelled (the job's row says so) or stopping (the job resumes after restart)
        except Exception:
            log.exception("job %s failed to run; it is retried once its lease lapses", job_id)
        finally:
            self._tasks.pop(job_id, None)
            self._started.discard(job_id)

    async def stop(self) -> None:
        """Start no more jobs; let running ones finish for up to ``drain_s``; cancel the rest (their
        jobs stay in the database and resume after a restart, a cut-off provider call included)."""
        self._draining = True
        running = [task for job_id, task in self._tasks.items() if job_id in self._started]
        if running and self._drain_s > 0:
            await asyncio.wait(running, timeout=self._drain_s)
        tasks = [task for task in (self._resumer, *self._tasks.values()) if task is not None]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        self._run = None

    async def wait_idle(self) -> None:
        """Until no job task of this pool is waiting or running (tests and draining)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
