"""Instructions per request: the gateway's work counted by valgrind (callgrind), not timed.

Timings on this shared 2-core VM move by 10-30% between runs, more than most changes to the request
path are worth, so before/after comparisons of CPU per request disagree with themselves. Callgrind
counts the instructions the gateway process executes (every thread: the event loop, the ledger
writer, the log listener), which is the same for the same build and requests whatever else the
machine does. The gateway runs under valgrind (about 50x slower, so start-up takes minutes), warms up
with ``--warmup`` requests, then instruments exactly ``--requests`` requests of the wrk harness's shape
(tiny body, no delay, one after another, ``bench/wrk/fake_upstream.py``) and prints instructions per
request, in all and per thread (threads numbered as callgrind saw them start: 1 is the event loop;
the ledger writer and the log listener follow). At concurrency 1 under valgrind every ledger batch
holds one request's row, so the writer's share is its most expensive case.

    .venv/bin/python bench/instructions.py --variant base:PYTHONPATH=/tmp/main/src --variant new: [--bare]

``--bare`` first counts ``bench/floor.py``'s bare stand-in the same way (uvicorn + Starlette + one
aiohttp call per request, nothing else): the frameworks' share of the gateway's count.

Needs ``valgrind`` on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
    wait_ready,
    write_bench_config,
)

BODY = json.dumps({"model": "gpt-image-2", "prompt": "peerbench body=tiny delay_ms=0", "n": 1, "size": "1024x1024"})


def send_requests(url: str, key: str, count: int) -> int:
    """Send ``count`` requests one after another, each on the same keep-alive connection; how many
    were answered 200 (the client is another process: its own work is not counted)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answered = 0
    with httpx.Client(timeout=120.0) as client:
        for _ in range(count):
            response = client.post(url, content=BODY, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"request failed: {response.status_code} {response.text[:200]}")
            answered += 1
    return answered


def totals(out_dir: Path) -> dict[str, int]:
    """Instructions per thread file that callgrind dumped (``--separate-threads=yes``)."""
    found: dict[str, int] = {}
    for dump in sorted(out_dir.glob("callgrind.out*-*")):
        text = dump.read_text(errors="replace")
        match = re.search(r"^totals:\s*(\d+)", text, re.MULTILINE)
        if match is not None:
            thread = dump.name.rsplit("-", 1)[1]
            found[thread] = found.get(thread, 0) + int(match.group(1))
    return found


def measure(label: str, overrides: dict[str, str], upstream_port: int, args: argparse.Namespace) -> None:
    """Count one gateway build's instructions per request."""
    workdir = Path(tempfile.mkdtemp(prefix=f"imagegate-instructions-{label}-"))
    env = {
        **os.environ,
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/imagegate.db",
        "IMAGEGATE_MASTER_KEY": "bench-master-key",
        "IMAGEGATE_DATA_DIR": str(workdir / "data"),
        "IMAGEGATE_LOG_LEVEL": "info",
        # Periodic duties (usage alerts, route controls, batch polls, job resumes) run on a clock, not
        # per request; under valgrind's slowdown they would land on a few requests' count.
        "IMAGEGATE_USAGE_ALERTS_INTERVAL_S": "3600",
        "IMAGEGATE_CONTROLS_REFRESH_S": "3600",
        "IMAGEGATE_BATCH_POLL_INTERVAL_S": "0",
        "IMAGEGATE_JOBS_RESUME_INTERVAL_S": "3600",
        **overrides,
    }
    exe = [sys.executable, "-m", "imagegate.cli"]
    key = create_bench_key(exe, env)
    config = write_bench_config(workdir, upstream_port)
    port = free_port()
    serve = [*exe, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    count_instructions(label, serve, env, port, key, workdir, args)


def measure_bare(upstream_port: int, args: argparse.Namespace) -> None:
    """Count ``floor.py``'s bare stand-in: the frameworks alone, no gateway work."""
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-instructions-bare-"))
    port = free_port()
    floor = Path(__file__).resolve().parent / "floor.py"
    serve = [sys.executable, str(floor), "--serve", "bare", "--port", str(port), "--upstream-port", str(upstream_port)]
    count_instructions("bare", serve, dict(os.environ), port, "unused", workdir, args)


def count_instructions(
    label: str, serve: list[str], env: dict[str, str], port: int, key: str, workdir: Path, args: argparse.Namespace
) -> None:
    """Run ``serve`` under callgrind, warm it up, count ``args.requests`` requests and print the result."""
    out = workdir / "callgrind"
    out.mkdir()
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}/callgrind.out",
    ]
    log = (workdir / "gateway.log").open("wb")
    gateway = subprocess.Popen([*valgrind, *serve], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", timeout_s=900)
        url = f"http://127.0.0.1:{port}/v1/images/generations"
        send_requests(url, key, args.warmup)
        time.sleep(1.0)
        subprocess.run(["callgrind_control", "-i", "on", str(gateway.pid)], check=True, capture_output=True)
        done = send_requests(url, key, args.requests)
        time.sleep(2.0)  # the ledger and log threads finish the last requests' rows and lines
        subprocess.run(["callgrind_control", "-i", "off", str(gateway.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(gateway.pid)], check=True, capture_output=True)
        time.sleep(1.0)
    finally:
        gateway.terminate()
        gateway.wait(120)
    per_thread = totals(out)
    total = sum(per_thread.values())
    threads = ", ".join(f"thread {name}: {count / done / 1e6:.2f} M" for name, count in sorted(per_thread.items()))
    print(f"{label}: {done} requests, {total / done / 1e6:.3f} M instructions per request ({threads})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--variant", action="append", default=[], help="label:ENV=value,... (repeatable)")
    parser.add_argument("--bare", action="store_true", help="count floor.py's bare frameworks first")
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variant] or [("gateway", {})]
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(FAKE_UPSTREAM), "--host", "127.0.0.1", "--port", str(upstream_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{upstream_port}/stats")
        if args.bare:
            measure_bare(upstream_port, args)
        for label, overrides in variants:
            measure(label, overrides, upstream_port, args)
    finally:
        upstream.terminate()
        upstream.wait(30)


if __name__ == "__main__":
    main()
