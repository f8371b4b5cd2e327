"""Gateway builds side by side under wrk: every cell of every build in every round, interleaved.

The wrk harness (``bench/wrk/run.sh``) measures one gateway build per run; on this shared VM the
same build reads 10-30% apart between runs a few minutes apart, so a before/after from two runs
says little. This script starts each build in turn (``--variant label:PYTHONPATH=<src>``, as the
other bench scripts), runs the same wrk cells on it with the harness's upstream, request body and
Lua script, and goes round again, so drift on the machine hits every build alike. CPU per request
is the scheduler's (``/proc/<pid>/task/*/schedstat``, every thread of the gateway).

    .venv/bin/python bench/wrk_variants.py --variant before:PYTHONPATH=/tmp/old/src --variant now: \\
        [--cells tiny:0:32,big:200:1] [--rounds 4] [--duration 6]

Prints each round, then the medians: rps, CPU per request, rps per core, p50 and p99.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from floor import cpu_ns, wrk
from gateway_overhead import FAKE_UPSTREAM, create_bench_key, free_port, parse_variant, wait_ready, write_bench_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", default=[], help="label:ENV=value,... (repeatable)")
    parser.add_argument("--cells", default="tiny:0:32,big:200:1", help="body:delay_ms:concurrency,...")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=6, help="seconds per cell")
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variant] or [("gateway", {})]
    cells = [tuple(cell.split(":")) for cell in args.cells.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-wrk-variants-"))
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(FAKE_UPSTREAM), "--host", "127.0.0.1", "--port", str(upstream_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = write_bench_config(workdir, upstream_port)
    exe = [sys.executable, "-m", "imagegate.cli"]
    environments: dict[str, dict[str, str]] = {}
    keys: dict[str, str] = {}
    for label, overrides in variants:
        env = {
            **os.environ,
            "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/{label}.db",
            "IMAGEGATE_MASTER_KEY": "bench-master-key",
            "IMAGEGATE_DATA_DIR": str(workdir / f"{label}-data"),
            "IMAGEGATE_LOG_LEVEL": "info",
            **overrides,
        }
        environments[label] = env
        keys[label] = create_bench_key(exe, env)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        wait_ready(f"http://127.0.0.1:{upstream_port}/stats")
        for round_number in range(args.rounds):
            direct_url = f"http://127.0.0.1:{upstream_port}/v1/images/generations"
            for body, delay, concurrency in cells:
                measured = wrk(direct_url, body, int(delay), int(concurrency), args.duration, None)
                results.setdefault((f"{body}/{delay} c{concurrency}", "direct"), []).append(measured)
            for label, env in environments.items():
                port = free_port()
                serve = [*exe, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
                log = (workdir / f"{label}.log").open("ab")
                gateway = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
                try:
                    wait_ready(f"http://127.0.0.1:{port}/healthz")
                    url = f"http://127.0.0.1:{port}/v1/images/generations"
                    wrk(url, "tiny", 0, 8, 1, keys[label])  # warm-up
                    for body, delay, concurrency in cells:
                        before = cpu_ns(gateway.pid)
                        measured = wrk(url, body, int(delay), int(concurrency), args.duration, keys[label])
                        measured["cpu_ms"] = (cpu_ns(gateway.pid) - before) / 1e6 / max(1, measured["requests"])
                        cell = f"{body}/{delay} c{concurrency}"
                        results.setdefault((cell, label), []).append(measured)
                        print(
                            f"round {round_number + 1} {label:10} {cell:12} rps {measured['rps']:8.1f}  "
                            f"cpu/req {measured['cpu_ms']:.3f} ms  p50 {measured['p50_ms']:.2f}  "
                            f"p99 {measured['p99_ms']:.2f}  errors {measured['errors']:.0f}",
                            flush=True,
                        )
                        time.sleep(1.0)  # the last requests' rows and lines written before the next cell
                finally:
                    gateway.terminate()
                    gateway.wait(60)
    finally:
        upstream.terminate()
        upstream.wait(30)
    print("| cell | build | rps | CPU per request | rps per core | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for body, delay, concurrency in cells:
        cell = f"{body}/{delay} c{concurrency}"
        for label in ["direct", *environments]:
            rows = results[(cell, label)]
            rps = statistics.median(row["rps"] for row in rows)
            p50 = statistics.median(row["p50_ms"] for row in rows)
            p99 = statistics.median(row["p99_ms"] for row in rows)
            errors = sum(row["errors"] for row in rows)
            if label == "direct":
                print(f"| {cell} | direct | {rps:,.1f} | – | – | {p50:.2f} | {p99:.2f} | {errors:.0f} |")
                continue
            cpu = statistics.median(row["cpu_ms"] for row in rows)
            print(
                f"| {cell} | {label} | {rps:,.1f} | {cpu:.3f} ms | {1000 / cpu:,.0f} | {p50:.2f} | {p99:.2f} | {errors:.0f} |"
            )
    print(json.dumps({"workdir": str(workdir)}))


if __name__ == "__main__":
    main()
