"""Jobs on PostgreSQL: two gateway replicas and one ``imagegate worker`` share procrastinate's queue.

Each replica and the worker is its own runtime (own engine, pools and event loop) over one
throwaway database; 100 jobs submitted to both replicas all complete, and the sandbox received
exactly 100 image calls: no job ran twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagegate.app import build_runtime
from imagegate.cli.worker import run_worker
from imagegate.config.file import parse_config
from imagegate.config.settings import Settings
from imagegate.store.database import make_engine
from tests.jobs.conftest import jobs_config, sandbox_submissions
from tests.store.fixtures import require_postgres, throwaway_pg_database
from tests.support.disk_store import DiskImageStore, serving_disk_store
from tests.support.gateway import running_gateway

pytestmark = pytest.mark.postgres
JOBS = 100


@contextlib.contextmanager
def worker_thread(database_url: str, config: dict, store: DiskImageStore, data_dir: Path) -> Iterator[None]:
    """``imagegate worker``'s loop (``run_worker``) on its own thread and event loop."""
    settings = Settings(database_url=database_url, auto_migrate=False, data_dir=data_dir, jobs_concurrency=4)
    runtime = build_runtime(settings, parse_config(config, env={}), image_store=store)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def main() -> None:
        loop.run_until_complete(run_worker(runtime, stop))

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()


def test_two_replicas_and_a_worker_run_100_jobs_each_exactly_once(sandbox_url, tmp_path):
    config = jobs_config(sandbox_url)
    with (
        throwaway_pg_database(require_postgres(), prefix="imagegate_jobs") as url,
        serving_disk_store(tmp_path / "images") as store,
    ):
        engines = [make_engine(url) for _ in range(2)]
        common = {"image_store": store, "jobs_concurrency": 4, "jobs_lease_s": 30.0, "data_dir": tmp_path}
        with (
            running_gateway(engines[0], config, **common) as first,
            running_gateway(engines[1], config, **common) as second,
            worker_thread(str(engines[0].url), config, store, tmp_path),
        ):
            secret = first.create_key("many")
            since = time.time()

            async def submit_all() -> list[str]:
                async with httpx.AsyncClient(headers={"authorization": f"Bearer {secret}"}, timeout=30) as client:
                    answers = await asyncio.gather(
                        *(
                            client.post(
                                f"{(first, second)[i % 2].url}/v1/images/jobs",
                                json={
                                    "model": "gpt-image-2",
                                    "prompt": f"job {i}",
                                    "quality": "low",
                                    "size": "1024x1024",
                                },
                            )
                            for i in range(JOBS)
                        )
                    )
                assert {answer.status_code for answer in answers} == {202}
                return [answer.json()["id"] for answer in answers]

            ids = asyncio.run(submit_all())
            deadline = time.monotonic() + 90
            while True:
                with engines[0].connect() as conn:
                    statuses = dict(
                        conn.exec_driver_sql("SELECT status, count(*) FROM image_jobs GROUP BY status").all()
                    )
                if statuses.get("completed") == JOBS:
                    break
                assert time.monotonic() < deadline, statuses
                time.sleep(0.2)
            with engines[0].connect() as conn:
                runs = conn.exec_driver_sql("SELECT runs, count(*) FROM image_jobs GROUP BY runs").all()
                runners = conn.exec_driver_sql("SELECT count(DISTINCT owner) FROM image_jobs").scalar()
            assert runs == [(1, JOBS)] and runners >= 1
            assert len(sandbox_submissions(sandbox_url, since)) == JOBS
            rows = first.ledger()
            assert len(rows) == JOBS and len({row.request_id for row in rows}) == JOBS
            assert {row.status for row in rows} == {"ok"} and len(ids) == len(set(ids)) == JOBS
        for engine in engines:
            engine.dispose()
