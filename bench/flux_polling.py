"""Submit-and-poll through the gateway: what one FLUX request costs in time, calls and CPU, per host.

The sandbox (its own process) plays BFL, fal and Replicate: every task answers "running" for two
status reads, then is ready on the separate result host. The gateway (its own process) polls with
``poll_interval`` 0.05 s (x1.5 per poll). For each host: p50/p99 latency of sequential requests,
the provider calls one request makes (submit + status reads + downloads), and, for BFL at
concurrency 16, requests per second and the gateway's CPU per request.

    python bench/flux_polling.py [--requests 30] [--burst-seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from gateway_overhead import cpu_seconds, create_bench_key, free_port, percentile, wait_ready

POLL_INTERVAL_S = 0.05
ALIASES = {
    "bfl": ("bfl", "flux-2-pro", ""),
    "fal": ("fal", "fal-ai/flux-2-pro", ""),
    "replicate (held create)": ("replicate", "black-forest-labs/flux-2-pro", ""),
    "replicate (polled)": ("replicate", "black-forest-labs/flux-2-pro", ", prefer_wait: 0"),
}


def write_config(workdir: Path, upstream_port: int) -> Path:
    """One alias per host, each routed to the sandbox with fast polling."""
    lines = ["models:"]
    for index, (provider, model, extra) in enumerate(ALIASES.values()):
        lines += [
            f"  - name: flux-{index}",
            "    routes:",
            f"      - {{provider: {provider}, model: {model}, base_url: 'http://127.0.0.1:{upstream_port}',",
            (
                f"         api_key: bench, timeout: 60, options: {{poll_interval: {POLL_INTERVAL_S},"
                f" result_hosts: [localhost]{extra}}}}}"
            ),
        ]
    config = workdir / "flux.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


async def one(client: aiohttp.ClientSession, url: str, headers: dict[str, str], model: str) -> float:
    body = {"model": model, "prompt": "a lighthouse", "size": "512x512"}
    started = time.perf_counter()
    async with client.post(url, json=body, headers=headers) as response:
        answer = await response.read()
        if response.status != 200:
            raise SystemExit(f"{model}: {response.status} {answer[:200]!r}")
    return time.perf_counter() - started


def provider_calls(upstream: str) -> int:
    return int(httpx.get(upstream + "/_sandbox/requests").json()["count"])


async def measure(args: argparse.Namespace, upstream: str, gateway: str, key: str, pid: int) -> None:
    url = gateway + "/v1/images/generations"
    headers = {"authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as client:
        for index, name in enumerate(ALIASES):
            model = f"flux-{index}"
            await one(client, url, headers, model)  # warm-up
            before = provider_calls(upstream)
            latencies = [await one(client, url, headers, model) for _ in range(args.requests)]
            calls = (provider_calls(upstream) - before) / args.requests
            print(
                f"{name:24} p50 {percentile(latencies, 50) * 1000:6.1f} ms  p99 {percentile(latencies, 99) * 1000:6.1f} ms"
                f"  provider calls per request {calls:.1f}",
                flush=True,
            )
        done = 0
        deadline = time.perf_counter() + args.burst_seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await one(client, url, headers, "flux-0")
                done += 1

        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(16)))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
    print(f"bfl at concurrency 16: {done / elapsed:.1f} req/s, gateway CPU {cpu / done * 1000:.1f} ms per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--burst-seconds", type=float, default=5.0)
    args = parser.parse_args()
    exe = [sys.executable, "-m", "imagegate.cli"]
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-flux-bench-"))
    env = {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(workdir),
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
        "IMAGEGATE_LOG_LEVEL": "warning",
    }
    up_port, gw_port = free_port(), free_port()
    upstream = subprocess.Popen([*exe, "sandbox", "--port", str(up_port)], env=env, stdout=subprocess.DEVNULL)
    config = write_config(workdir, up_port)
    key = create_bench_key(exe, env)
    gateway = subprocess.Popen(
        [*exe, "serve", "--config", str(config), "--port", str(gw_port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/healthz")
        wait_ready(f"http://127.0.0.1:{gw_port}/healthz")
        print(
            f"sandbox tasks: 2 'running' reads, then ready; poll_interval {POLL_INTERVAL_S} s (x1.5); 512x512;"
            f" {os.cpu_count()} cores",
            flush=True,
        )
        asyncio.run(measure(args, f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{gw_port}", key, gateway.pid))
    finally:
        for process in (gateway, upstream):
            process.terminate()
        for process in (gateway, upstream):
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
