"""The PostgreSQL job engine: procrastinate queues job ids, any replica or ``imagegate worker`` runs them.

procrastinate (PostgreSQL only, psycopg 3, ``SELECT ... FOR UPDATE SKIP LOCKED`` with LISTEN/NOTIFY)
hands each queued run to exactly one worker; the job's own row (``JobService.run``'s conditional
claim) is the second guard, so even a job queued twice never runs twice. ``queueing_lock`` keeps
at most one waiting queue entry per job. The resumer re-queues jobs whose runner died (their
lease lapsed), whatever procrastinate thinks of its dead worker's entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, text

from imagegate.accounting.job_queue import Due, Run, resume_forever

log = logging.getLogger("imagegate.jobs")

QUEUE = "imagegate-jobs"
_SCHEMA_LOCK = 0x696D67676A6F6273  # "imggjobs": one replica installs procrastinate's schema at a time


def conninfo(engine: Engine) -> str:
    """The libpq connection string for the gateway's PostgreSQL database."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_schema(engine: Engine) -> None:
    """Install procrastinate's tables once (under an advisory lock, so replicas starting together agree)."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return
        # Plain psycopg: the schema is many statements and contains '%' (no parameter parsing wanted).
        conn.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]  # psycopg connection


class ProcrastinateEngine:
    """``service.jobs.JobEngine`` over procrastinate (see the module docstring)."""

    def __init__(
        self, engine: Engine, *, concurrency: int, run_jobs: bool, resume_interval_s: float, drain_s: float = 0.0
    ) -> None:
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(engine)))
        self._concurrency = concurrency
        self._run_jobs = run_jobs
        self._resume_interval_s = resume_interval_s
        self._drain_s = drain_s
        self._run: Run | None = None
        self._running: dict[str, asyncio.Task[object]] = {}
        self._tasks: list[asyncio.Task[None]] = []

        @self.app.task(name="imagegate.run_job", queue=QUEUE)
        async def run_job(job_id: str) -> None:
            if self._run is None:
                raise RuntimeError("job engine not started")
            current = asyncio.current_task()
            if current is not None:
                self._running[job_id] = current
            try:
                await self._run(job_id)
            finally:
                self._running.pop(job_id, None)

        self._task = run_job

    async def start(self, run: Run, due: Due) -> None:
        """Connect, and (unless this process only submits) run a worker and the resumer."""
        self._run = run
        await self.app.open_async()
        if self._run_jobs:
            worker = self.app.run_worker_async(
                queues=[QUEUE],
                concurrency=self._concurrency,
                wait=True,
                install_signal_handlers=False,
                fetch_job_polling_interval=1.0,
                delete_jobs="successful",
                # Cancelling the worker stops it taking jobs and lets running ones finish this long.
                shutdown_graceful_timeout=self._drain_s,
            )
            self._tasks.append(asyncio.create_task(worker, name="imagegate-procrastinate-worker"))
            self._tasks.append(
                asyncio.create_task(
                    resume_forever(due, self.enqueue, self._resume_interval_s), name="imagegate-job-resumer"
                )
            )

    async def enqueue(self, job_id: str) -> None:
        """Queue a run of ``job_id`` (a no-op while one is already waiting)."""
        with contextlib.suppress(AlreadyEnqueued):
            await self._task.configure(queueing_lock=job_id).defer_async(job_id=job_id)

    def cancel_local(self, job_id: str) -> None:
        """Stop the job's run if this process's worker has it."""
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        """Stop the worker and the resumer, then disconnect."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.app.close_async()
        self._run = None
