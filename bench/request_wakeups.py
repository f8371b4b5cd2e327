"""Thread wake-ups per request at concurrency 1: how often a request makes the gateway's threads
sleep and be woken (voluntary context switches, read from /proc), on the event loop's thread and
on all the others (ledger writer, log listener, executor threads).

On a VM waking a thread costs ~0.5 ms, paid partly by the thread that wakes it, so hand-offs on
the request path show up in added latency at concurrency 1 (docs/performance.md). The upstream,
request and config are the wrk harness's (``bench/wrk/fake_upstream.py``, big body, 200 ms).

    .venv/bin/python bench/request_wakeups.py --variant base:PYTHONPATH=/tmp/main/src --variant new:
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from gateway_overhead import (
    FAKE_UPSTREAM,
    create_bench_key,
    free_port,
    parse_variant,
    request_body,
    wait_ready,
    write_bench_config,
)


def switches(pid: int) -> tuple[int, int]:
    """Voluntary context switches so far: (the main thread, every other thread alive now)."""
    main = others = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:
            continue
        count = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        if task.name == str(pid):
            main = count
        else:
            others += count
    return main, others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], help="label:ENV=value,... (repeatable)")
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variant] or [("gateway", {})]
    exe = [sys.executable, "-m", "imagegate.cli"]
    base_dir = Path(tempfile.mkdtemp(prefix="imagegate-wakeups-"))
    base_env = {**os.environ, "IMAGEGATE_LOG_LEVEL": "info", "IMAGEGATE_MASTER_KEY": "bench-master-key"}
    up_port = free_port()
    upstream = subprocess.Popen([sys.executable, str(FAKE_UPSTREAM), "--port", str(up_port)], stdout=subprocess.DEVNULL)
    processes = [upstream]
    gateways: list[tuple[str, int, str, str]] = []
    body = request_body("big", 200)
    results: dict[str, list[tuple[float, float, float]]] = {}
    try:
        for label, overrides in variants:
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
            gateway = subprocess.Popen(
                [*exe, "serve", "--config", str(config), "--port", str(port)], env=env, stdout=subprocess.DEVNULL
            )
            processes.append(gateway)
            gateways.append((label, gateway.pid, f"http://127.0.0.1:{port}", key))
        wait_ready(f"http://127.0.0.1:{up_port}/stats")
        for _label, _pid, url, _key in gateways:
            wait_ready(url + "/healthz")
        for _round in range(args.rounds):
            for label, pid, url, key in gateways:
                headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
                with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                    for _ in range(3):  # warm: connection, caches, lazily started threads
                        client.post("/v1/images/generations", content=body).raise_for_status()
                    time.sleep(1.5)  # let lingering threads go idle, as between bursts of traffic
                    before = switches(pid)
                    took = []
                    for _ in range(args.requests):
                        started = time.perf_counter()
                        client.post("/v1/images/generations", content=body).raise_for_status()
                        took.append(time.perf_counter() - started)
                    after = switches(pid)
                main_per = (after[0] - before[0]) / args.requests
                others_per = max(0, after[1] - before[1]) / args.requests
                results.setdefault(label, []).append((main_per, others_per, statistics.median(took) * 1000))
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    print(f"wake-ups per request at c1 ({args.requests} requests x {args.rounds} rounds, big body, 200 ms upstream):")
    for label, rows in results.items():
        main_med = statistics.median(row[0] for row in rows)
        others_med = statistics.median(row[1] for row in rows)
        p50 = " / ".join(f"{row[2]:.1f}" for row in rows)
        print(f"  {label:10} event loop {main_med:5.1f}   other threads {others_med:5.1f}   p50 ms per round {p50}")


if __name__ == "__main__":
    main()
