"""Gateway overhead: added latency and throughput through imagegate vs. straight to the upstream.

The same measurement as the wrk harness (``bench/wrk/``, ``make bench``), with the project's own
aiohttp client instead of wrk: the same upstream (``bench/wrk/fake_upstream.py``: a pre-encoded
~1.4 MB noise PNG as ``b64_json``, or a 1x1 PNG with ``--body tiny``, answered after
``--delay-ms``), the same request body, the same gateway config (one ``gpt-image-2`` route,
SQLite, a master key) and the same log level (INFO, the default). Gateway and upstream each run as
their own process; the client is a third. Runs alternate (direct, gateway, direct, ...) so drift
on the machine hits both sides alike.

    python bench/gateway_overhead.py [--rounds 5] [--seq-requests 40] [--burst-seconds 6] [--body tiny --delay-ms 0]

Prints added p50/p99 latency at concurrency 1, throughput ratio at concurrency 32, the gateway's
CPU per request and its peak RSS (VmHWM; with several workers, summed over the process tree). With
``--variant`` several gateways (builds or settings) run side by side and alternate in every
round, so a before/after comparison is made in one run:

    python bench/gateway_overhead.py --variant base:PYTHONPATH=/tmp/main/src --variant new: --rounds 4
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
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

HERE = Path(__file__).resolve().parent
FAKE_UPSTREAM = HERE / "wrk" / "fake_upstream.py"


def request_body(body: str, delay_ms: int) -> str:
    """The wrk harness's request (``run_bench.req_body``): the prompt picks the upstream's body and delay."""
    return json.dumps(
        {"model": "gpt-image-2", "prompt": f"peerbench body={body} delay_ms={delay_ms}", "n": 1, "size": "1024x1024"}
    )


BODY = [request_body("big", 200)]  # set from --body and --delay-ms


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout_s: float = 120.0) -> None:
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
    """Peak RSS (VmHWM) of the process, summed with its children's (an upper bound for several workers)."""
    total = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def write_bench_config(workdir: Path, upstream_port: int) -> Path:
    """A gateway config with one ``gpt-image-2`` route to the sandbox on ``upstream_port``."""
    config = workdir / "bench.yaml"
    config.write_text(
        "models:\n  - name: gpt-image-2\n    routes:\n      - provider: openai\n        model: gpt-image-2\n"
        f"        base_url: http://127.0.0.1:{upstream_port}/v1\n        api_key: sk-bench\n"
    )
    return config


def create_bench_key(exe: list[str], env: dict[str, str]) -> str:
    """A fresh gateway key, made with ``imagegate keys create`` against the bench database."""
    created = subprocess.run(
        [*exe, "keys", "create", "--name", "bench", "--json"], env=env, check=True, capture_output=True, text=True
    )
    return str(json.loads(created.stdout)["key"])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the workers of ``serve --workers N``)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            found += process_tree(int(child))
    return found


def connections_per_worker(pid: int, port: int) -> list[int]:
    """Established connections to ``port`` that each worker of ``pid`` holds (``pid`` itself if it has none).

    Shows how the kernel spread a client's keep-alive connections over ``serve --workers N``.
    """
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "01":  # local port, ESTABLISHED
                established.add(fields[9])  # the socket's inode
    counts = []
    for member in process_tree(pid)[1:] or [pid]:
        held = 0
        for fd in Path(f"/proc/{member}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            held += link.startswith("socket:[") and link[8:-1] in established
        counts.append(held)
    return counts


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process and its children alive now have used so far."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# A much shorter answer than the upstream's body is an error or a lost image. Set from --body.
EXPECTED_BODY_BYTES = {"big": 1_000_000, "tiny": 100}
EXPECTED = [EXPECTED_BODY_BYTES["big"]]


async def one(client: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with client.post(url, data=BODY[0], headers=headers) as response:
        body = await response.read()
        status = response.status
    elapsed = time.perf_counter() - started
    if status != 200 or len(body) < EXPECTED[0]:
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


@dataclass
class Target:
    """One side of the comparison: the upstream itself, or a gateway build/setting under test."""

    name: str
    url: str
    headers: dict[str, str]
    pid: int | None = None  # a gateway's process, for its CPU time
    seq: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    requests: int = 0
    spread: list[list[int]] = field(default_factory=list)  # connections per worker after each burst


async def measure(args: argparse.Namespace, targets: list[Target]) -> None:
    """Alternate the targets round by round (rotating the order), sequential then concurrent."""
    # A lean client (C parser), so that the client's own CPU is not what limits the measurement.
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:
        for target in targets:
            await sequential(client, target.url, target.headers, 3)  # warm connections and caches
        for round_index in range(args.rounds):
            shift = round_index % len(targets)
            order = targets[shift:] + targets[:shift]
            for target in order:
                target.seq += await sequential(client, target.url, target.headers, args.seq_requests)
            for target in order:
                cpu_before = 0.0 if target.pid is None else cpu_seconds(target.pid)
                per_second = await burst(client, target.url, target.headers, 32, args.burst_seconds)
                target.rate.append(per_second)
                if target.pid is not None:
                    target.cpu_s += cpu_seconds(target.pid) - cpu_before
                    target.requests += round(per_second * args.burst_seconds)
                    port = int(target.url.split(":")[2].split("/")[0])
                    target.spread.append(connections_per_worker(target.pid, port))
            rates = ", ".join(f"{target.name} {target.rate[-1]:.1f}" for target in targets)
            print(f"  round {round_index + 1}/{args.rounds}: c=32 req/s: {rates}", flush=True)


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``label:KEY=VALUE,KEY=VALUE`` -> (label, environment overrides)."""
    label, _, spec = text.partition(":")
    overrides = dict(item.split("=", 1) for item in spec.split(",") if item)
    return label, overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seq-requests", type=int, default=40)
    parser.add_argument("--burst-seconds", type=float, default=6.0)
    parser.add_argument("--delay-ms", type=int, default=200)
    parser.add_argument("--body", choices=("big", "tiny"), default="big", help="the upstream's answer (as wrk's cells)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:KEY=VALUE,...",
        help="a gateway to compare, with environment overrides (repeatable); PYTHONPATH=<src> runs another "
        "build, e.g. 'base:PYTHONPATH=/tmp/main/src' or 'unsafe:IMAGEGATE_LEDGER_CRASH_SAFE=false'; "
        "WORKERS=2 serves with --workers 2",
    )
    args = parser.parse_args()
    EXPECTED[0] = EXPECTED_BODY_BYTES[args.body]
    BODY[0] = request_body(args.body, args.delay_ms)
    variants = [parse_variant(text) for text in args.variant] or [("gateway", {})]

    exe = [sys.executable, "-m", "imagegate.cli"]
    base_dir = Path(tempfile.mkdtemp(prefix="imagegate-bench-"))
    # INFO, the default, as the wrk harness runs it: the per-attempt line is part of what a request costs.
    base_env = {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(base_dir),
        "IMAGEGATE_LOG_LEVEL": "info",
        "IMAGEGATE_MASTER_KEY": "bench-master-key",
    }
    up_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(FAKE_UPSTREAM), "--port", str(up_port), "--body", args.body], stdout=subprocess.DEVNULL
    )
    processes = [upstream]
    targets = [
        Target(
            "direct",
            f"http://127.0.0.1:{up_port}/v1/images/generations",
            {"authorization": "Bearer fake", "content-type": "application/json"},
        )
    ]
    try:
        for label, overrides in variants:
            # Each gateway has its own data directory and database: no lock shared between them.
            workdir = base_dir / label
            workdir.mkdir()
            env = {
                **base_env,
                "IMAGEGATE_DATA_DIR": str(workdir),
                "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
                **overrides,
            }
            config = write_bench_config(workdir, up_port)
            key = create_bench_key(exe, env)
            port = free_port()
            # WORKERS=n in a variant serves with ``--workers n`` (CPU and RSS then sum the workers).
            workers = ["--workers", env.pop("WORKERS")] if "WORKERS" in env else []
            # Its log (INFO: a line per attempt) goes to a file, as the wrk harness keeps it: the
            # gateway pays for writing it, and the figures stay readable.
            with (workdir / "gateway.log").open("wb") as log:
                gateway = subprocess.Popen(
                    [*exe, "serve", "--config", str(config), "--port", str(port), *workers],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            processes.append(gateway)
            url = f"http://127.0.0.1:{port}"
            targets.append(
                Target(
                    label,
                    url + "/v1/images/generations",
                    {"authorization": f"Bearer {key}", "content-type": "application/json"},
                    pid=gateway.pid,
                )
            )
        wait_ready(f"http://127.0.0.1:{up_port}/stats")
        for target in targets[1:]:
            wait_ready(target.url.removesuffix("/v1/images/generations") + "/healthz")
        print(
            f"upstream: bench/wrk/fake_upstream.py, {args.delay_ms} ms delay, {args.body} body; "
            f"{os.cpu_count()} cores; {args.rounds} interleaved rounds; gateways: {', '.join(v[0] for v in variants)}",
            flush=True,
        )
        asyncio.run(measure(args, targets))
        rss = {target.name: peak_rss_mib(target.pid) for target in targets if target.pid is not None}
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    report(targets, rss)


def report(targets: list[Target], rss: dict[str, float]) -> None:
    """Added latency, throughput ratio, CPU per request and peak RSS per gateway, against direct."""
    direct = targets[0]
    direct_p50 = percentile(direct.seq, 50) * 1000
    direct_p99 = percentile(direct.seq, 99) * 1000
    direct_rps = statistics.median(direct.rate)
    print(f"direct: p50 {direct_p50:.1f} ms, p99 {direct_p99:.1f} ms, c=32 {direct_rps:.1f} req/s")
    for target in targets[1:]:
        p50 = percentile(target.seq, 50) * 1000
        p99 = percentile(target.seq, 99) * 1000
        rps = statistics.median(target.rate)
        print(
            f"{target.name}: p50 {p50:.1f} ms -> added p50 {p50 - direct_p50:.2f} ms, added p99 {p99 - direct_p99:.2f} ms;"
            f" c=32 {rps:.1f} req/s -> throughput {rps / direct_rps:.0%} of direct;"
            f" CPU per request {target.cpu_s / max(1, target.requests) * 1000:.2f} ms;"
            f" peak RSS {rss[target.name]:.0f} MiB"
        )
        if any(len(counts) > 1 for counts in target.spread):
            spread = " / ".join("+".join(map(str, counts)) for counts in target.spread)
            print(f"  {target.name}: the client's connections per worker after each burst: {spread}")


if __name__ == "__main__":
    main()
