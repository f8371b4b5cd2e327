"""Jobs: what submitting costs a client, and what a job adds over the synchronous call.

The gateway (its own process: SQLite, the embedded job pool) routes to the sandbox (its own
process); job results go to a disk image store (the tests' port implementation) whose files this
script serves over HTTP.

    python bench/jobs.py [--jobs 200] [--sequential 30]

Prints: the 202's latency (p50/p99) with 16 clients submitting at once; how long the pool takes to
finish them (jobs/s at the default concurrency of 4); and, one at a time, a job's submit-to-completed
time (polled every 10 ms) against the synchronous call for the same request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests support package (the disk store)

import yaml
from gateway_overhead import free_port, wait_ready
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.disk_store import serving_disk_store
from tests.support.gateway import GatewayHandle, sandbox_models_config

BODY = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "size": "1024x1024", "quality": "low"}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def burst(url: str, headers: dict[str, str], count: int) -> tuple[list[float], list[str]]:
    """Submit ``count`` jobs from 16 concurrent clients; each 202's latency and the job ids."""
    latencies: list[float] = []
    ids: list[str] = []
    queue = list(range(count))
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:

        async def worker() -> None:
            while queue:
                queue.pop()
                started = time.perf_counter()
                answer = await client.post(f"{url}/v1/images/jobs", json=BODY)
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["id"])

        await asyncio.gather(*(worker() for _ in range(16)))
    return latencies, ids


def wait_all(url: str, headers: dict[str, str], ids: list[str]) -> None:
    """Until every job is completed."""
    with httpx.Client(headers=headers) as client:
        for job_id in ids:
            while client.get(f"{url}/v1/images/jobs/{job_id}").json()["status"] != "completed":
                time.sleep(0.01)


def main() -> None:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--sequential", type=int, default=30)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="imagegate-bench-jobs-"))
    engine = migrated_sqlite_engine(root / "imagegate.db")
    secret = GatewayHandle(url="", runtime=None, engine=engine).create_key("bench")  # type: ignore[arg-type]
    sandbox_port, gateway_port = free_port(), free_port()
    config = root / "gateway.yaml"
    config.write_text(yaml.safe_dump(sandbox_models_config(f"http://127.0.0.1:{sandbox_port}", ["gpt-image-2"])))
    env = {**os.environ, "IMAGEGATE_DATABASE_URL": str(engine.url), "IMAGEGATE_DATA_DIR": str(root)}
    env["IMAGEGATE_LOG_LEVEL"] = "warning"
    exe = [sys.executable, "-m"]
    processes = [
        subprocess.Popen(
            [*exe, "imagegate.cli", "sandbox", "--port", str(sandbox_port)], env=env, stdout=subprocess.DEVNULL
        )
    ]
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        with serving_disk_store(root / "images") as store:
            processes.append(
                subprocess.Popen(
                    [
                        *exe,
                        "tests.support.job_processes",
                        "serve",
                        "--config",
                        str(config),
                        "--port",
                        str(gateway_port),
                        "--images-root",
                        str(store.root),
                        "--images-url",
                        store.base_url,
                    ],
                    env=env,
                    cwd=Path(__file__).resolve().parents[1],
                )
            )
            wait_ready(f"http://127.0.0.1:{sandbox_port}/healthz")
            wait_ready(url + "/healthz")
            headers = {"authorization": f"Bearer {secret}"}
            started = time.perf_counter()
            latencies, ids = asyncio.run(burst(url, headers, args.jobs))
            wait_all(url, headers, ids)
            elapsed = time.perf_counter() - started
            sync_times, job_times = [], []
            with httpx.Client(headers=headers, timeout=60) as client:
                for _ in range(args.sequential):
                    began = time.perf_counter()
                    assert client.post(f"{url}/v1/images/generations", json=BODY).status_code == 200
                    sync_times.append(time.perf_counter() - began)
                    began = time.perf_counter()
                    job_id = client.post(f"{url}/v1/images/jobs", json=BODY).json()["id"]
                    while client.get(f"{url}/v1/images/jobs/{job_id}").json()["status"] != "completed":
                        time.sleep(0.01)
                    job_times.append(time.perf_counter() - began)
    finally:
        for process in processes:
            process.terminate()
            process.wait(15)
    ms = 1000
    print(
        f"submit (202), 16 clients: p50 {percentile(latencies, 50) * ms:.1f} ms, p99 {percentile(latencies, 99) * ms:.1f} ms"
    )
    print(f"{args.jobs} jobs submitted and completed in {elapsed:.2f} s ({args.jobs / elapsed:.1f} jobs/s, pool of 4)")
    sync_p50, job_p50 = statistics.median(sync_times), statistics.median(job_times)
    print(
        f"one at a time: synchronous p50 {sync_p50 * ms:.1f} ms, job submit-to-completed p50 {job_p50 * ms:.1f} ms "
        f"(+{(job_p50 - sync_p50) * ms:.1f} ms, polling every 10 ms)"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
