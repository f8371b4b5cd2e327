"""Idle CPU: what a gateway that serves nothing burns per second, and on which threads.

Starts ``imagegate serve`` (SQLite, the sandbox as its upstream) once per ``--variant``, sends one
request to each so every lazy part has started, lets them settle, then reads each process's CPU
time per thread from /proc over ``--seconds`` (all variants over the same window) and prints the
total in ms of CPU per second, with the busiest threads, and the wake-ups per second (voluntary
context switches: each is a thread that slept and was woken). Polling loops show up here; waits
on events do not. CPU is counted in scheduler ticks (10 ms), so over a short window the wake-ups
are the finer figure.

    .venv/bin/python bench/idle_cpu.py --variant base:PYTHONPATH=/tmp/main/src --variant new:
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from gateway_overhead import create_bench_key, free_port, parse_variant, wait_ready, write_bench_config


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far per thread name (threads of one name summed)."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return totals


def thread_wakeups(pid: int) -> dict[str, int]:
    """Voluntary context switches so far per thread name (threads of one name summed)."""
    totals: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        name = fields["Name"].strip()
        totals[name] = totals.get(name, 0) + int(fields["voluntary_ctxt_switches"])
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--variant", action="append", default=[], help="label:ENV=value,... (repeatable)")
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variant] or [("gateway", {})]
    exe = [sys.executable, "-m", "imagegate.cli"]
    base_dir = Path(tempfile.mkdtemp(prefix="imagegate-idle-"))
    base_env = {**os.environ, "IMAGEGATE_DATA_DIR": str(base_dir), "IMAGEGATE_LOG_LEVEL": "warning"}
    up_port = free_port()
    upstream = subprocess.Popen([*exe, "sandbox", "--port", str(up_port), "--fixed-delay-ms", "0"], env=base_env)
    processes = [upstream]
    gateways: list[tuple[str, int, str, str]] = []
    try:
        for label, overrides in variants:
            workdir = base_dir / label
            workdir.mkdir()
            env = {
                **base_env,
                "IMAGEGATE_DATA_DIR": str(workdir),
                "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/idle.db",
            }
            env.update(overrides)
            config = write_bench_config(workdir, up_port)
            key = create_bench_key(exe, env)
            port = free_port()
            gateway = subprocess.Popen(
                [*exe, "serve", "--config", str(config), "--port", str(port)], env=env, stdout=subprocess.DEVNULL
            )
            processes.append(gateway)
            gateways.append((label, gateway.pid, f"http://127.0.0.1:{port}", key))
        wait_ready(f"http://127.0.0.1:{up_port}/healthz")
        for _label, _pid, url, key in gateways:
            wait_ready(url + "/healthz")
            httpx.post(
                url + "/v1/images/generations",
                json={"model": "gpt-image-2", "prompt": "warm up"},
                headers={"authorization": f"Bearer {key}"},
                timeout=30,
            ).raise_for_status()
        time.sleep(args.settle)
        before = {pid: thread_cpu(pid) for _label, pid, _url, _key in gateways}
        woken_before = {pid: thread_wakeups(pid) for _label, pid, _url, _key in gateways}
        time.sleep(args.seconds)
        after = {pid: thread_cpu(pid) for _label, pid, _url, _key in gateways}
        woken_after = {pid: thread_wakeups(pid) for _label, pid, _url, _key in gateways}
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    print(f"idle CPU over {args.seconds:.0f} s ({os.cpu_count()} cores):")
    for label, pid, _url, _key in gateways:
        used = {name: after[pid].get(name, 0.0) - before[pid].get(name, 0.0) for name in after[pid]}
        total = sum(used.values()) / args.seconds * 1000
        busiest = sorted(used.items(), key=lambda item: -item[1])[:4]
        threads = ", ".join(f"{name} {value / args.seconds * 1000:.1f}" for name, value in busiest if value > 0)
        print(f"  {label:10} {total:6.1f} ms CPU per s   (by thread, ms/s: {threads or 'none'})")
        # A thread that ended in the window takes its count with it: never below zero.
        woken = {
            name: max(0, woken_after[pid].get(name, 0) - woken_before[pid].get(name, 0)) for name in woken_after[pid]
        }
        per_s = sum(woken.values()) / args.seconds
        most = sorted(woken.items(), key=lambda item: -item[1])[:4]
        by_thread = ", ".join(f"{name} {count / args.seconds:.1f}" for name, count in most if count > 0)
        print(f"  {'':10} {per_s:6.1f} wake-ups per s (by thread: {by_thread or 'none'})")


if __name__ == "__main__":
    main()
