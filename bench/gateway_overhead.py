"""Gateway overhead: added latency and throughput through imagegate vs. straight to the upstream.

The upstream is the sandbox in benchmark mode: every generation answers after a fixed delay
(200 ms) with a pre-encoded ~1.4 MB body, so image encoding is not what is measured. Gateway and
upstream each run as their own process; the client is a third. Runs alternate (direct, gateway,
direct, ...) so drift on the machine hits both sides alike.

    python bench/gateway_overhead.py [--rounds 5] [--seq-requests 40] [--burst-seconds 6] [--api responses]

``--api responses`` measures ``POST /v1/responses`` with the image tool instead (gpt-5-mini; the
sandbox renders the turn's image, cached after the first, after the same fixed delay).

Prints added p50/p99 latency at concurrency 1, throughput ratio at concurrency 32, and the
gateway's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

BODIES = {
    "images": json.dumps(
        {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "size": "1024x1024", "quality": "low"}
    ),
    "responses": json.dumps(
        {
            "model": "gpt-5-mini",
            "input": "a lighthouse at dusk",
            "tools": [{"type": "image_generation", "model": "gpt-image-2", "quality": "low", "size": "1024x1024"}],
        }
    ),
}
PATHS = {"images": "/v1/images/generations", "responses": "/v1/responses"}
# The smallest answer that counts as a real one: the canned 1.4 MB body, or a rendered turn.
MIN_ANSWER_BYTES = {"images": 1_000_000, "responses": 1_000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_bench_config(workdir: Path, upstream_port: int) -> Path:
    """A gateway config with one ``gpt-image-2`` route to the sandbox on ``upstream_port``."""
    config = workdir / "bench.yaml"
    config.write_text(
        "models:\n"
        + "".join(
            f"  - name: {model}\n    routes:\n      - provider: openai\n        model: {model}\n"
            f"        base_url: http://127.0.0.1:{upstream_port}/v1\n        api_key: sk-bench\n"
            for model in ("gpt-image-2", "gpt-5-mini")
        )
    )
    return config


def create_bench_key(exe: list[str], env: dict[str, str]) -> str:
    """A fresh gateway key, made with ``imagegate keys create`` against the bench database."""
    created = subprocess.run(
        [*exe, "keys", "create", "--name", "bench", "--json"], env=env, check=True, capture_output=True, text=True
    )
    return str(json.loads(created.stdout)["key"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def one(client: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    api = headers["x-bench-api"]
    started = time.perf_counter()
    async with client.post(url, data=BODIES[api], headers=headers) as response:
        body = await response.read()
        status = response.status
    elapsed = time.perf_counter() - started
    if status != 200 or len(body) < MIN_ANSWER_BYTES[api]:
        raise SystemExit(f"bad answer from {url}: {status} {body[:200]!r}")
    return elapsed


async def sequential(client: aiohttp.ClientSession, url: str, headers: dict[str, str], count: int) -> list[float]:
    return [await one(client, url, headers) for _ in range(count)]


async def burst(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str], concurrency: int, seconds: float
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one(client, url, headers)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def measure(args: argparse.Namespace, direct: str, gateway: str, key: str, gateway_pid: int) -> dict[str, float]:
    # x-bench-api tells ``one`` which body to send (an unknown header to both servers).
    common = {"content-type": "application/json", "x-bench-api": args.api}
    direct_headers = {"authorization": "Bearer sk-bench", **common}
    gateway_headers = {"authorization": f"Bearer {key}", **common}
    # A lean client (C parser), so that the client's own CPU is not what limits the measurement.
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:
        for url, headers in ((direct, direct_headers), (gateway, gateway_headers)):
            await sequential(client, url, headers, 3)  # warm connections and caches
        seq = {"direct": [], "gateway": []}
        rate = {"direct": [], "gateway": []}
        gateway_cpu = 0.0
        gateway_requests = 0
        for round_index in range(args.rounds):
            order = [("direct", direct, direct_headers), ("gateway", gateway, gateway_headers)]
            if round_index % 2:
                order.reverse()
            for name, url, headers in order:
                seq[name] += await sequential(client, url, headers, args.seq_requests)
            for name, url, headers in order:
                cpu_before = cpu_seconds(gateway_pid)
                per_second = await burst(client, url, headers, 32, args.burst_seconds)
                rate[name].append(per_second)
                if name == "gateway":
                    gateway_cpu += cpu_seconds(gateway_pid) - cpu_before
                    gateway_requests += round(per_second * args.burst_seconds)
            print(
                f"  round {round_index + 1}/{args.rounds}: c=32 direct {rate['direct'][-1]:.1f} req/s, "
                f"gateway {rate['gateway'][-1]:.1f} req/s",
                flush=True,
            )
    return {
        "direct_p50_ms": percentile(seq["direct"], 50) * 1000,
        "gateway_p50_ms": percentile(seq["gateway"], 50) * 1000,
        "direct_p99_ms": percentile(seq["direct"], 99) * 1000,
        "gateway_p99_ms": percentile(seq["gateway"], 99) * 1000,
        "direct_rps": statistics.median(rate["direct"]),
        "gateway_rps": statistics.median(rate["gateway"]),
        "gateway_cpu_ms_per_request": gateway_cpu / max(1, gateway_requests) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seq-requests", type=int, default=40)
    parser.add_argument("--burst-seconds", type=float, default=6.0)
    parser.add_argument("--delay-ms", type=int, default=200)
    parser.add_argument("--body-bytes", type=int, default=1_400_000)
    parser.add_argument("--api", choices=sorted(PATHS), default="images")
    args = parser.parse_args()

    exe = [sys.executable, "-m", "imagegate.cli"]
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-bench-"))
    env = {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(workdir),
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
        "IMAGEGATE_LOG_LEVEL": "warning",
    }
    up_port, gw_port = free_port(), free_port()
    upstream = subprocess.Popen(
        [
            *exe,
            "sandbox",
            "--port",
            str(up_port),
            "--fixed-delay-ms",
            str(args.delay_ms),
            "--fixed-image-bytes",
            str(args.body_bytes),
        ],
        env=env,
    )
    config = write_bench_config(workdir, up_port)
    key = create_bench_key(exe, env)
    gateway = subprocess.Popen(
        [*exe, "serve", "--config", str(config), "--port", str(gw_port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/healthz")
        wait_ready(f"http://127.0.0.1:{gw_port}/healthz")
        print(
            f"upstream: sandbox, {args.delay_ms} ms delay, {args.body_bytes:,}-byte body; "
            f"{os.cpu_count()} cores; {args.rounds} interleaved rounds",
            flush=True,
        )
        figures = asyncio.run(
            measure(
                args,
                f"http://127.0.0.1:{up_port}{PATHS[args.api]}",
                f"http://127.0.0.1:{gw_port}{PATHS[args.api]}",
                key,
                gateway.pid,
            )
        )
        rss = peak_rss_mib(gateway.pid)
    finally:
        for process in (gateway, upstream):
            process.terminate()
        for process in (gateway, upstream):
            process.wait(timeout=30)
    added_p50 = figures["gateway_p50_ms"] - figures["direct_p50_ms"]
    added_p99 = figures["gateway_p99_ms"] - figures["direct_p99_ms"]
    ratio = figures["gateway_rps"] / figures["direct_rps"]
    print(
        f"concurrency 1:  direct p50 {figures['direct_p50_ms']:.1f} ms, gateway p50 {figures['gateway_p50_ms']:.1f} ms"
        f"  -> added p50 {added_p50:.2f} ms, added p99 {added_p99:.2f} ms"
    )
    print(
        f"concurrency 32: direct {figures['direct_rps']:.1f} req/s, gateway {figures['gateway_rps']:.1f} req/s"
        f"  -> throughput {ratio:.0%} of direct"
    )
    print(f"gateway CPU per request at concurrency 32: {figures['gateway_cpu_ms_per_request']:.2f} ms")
    print(f"gateway peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
