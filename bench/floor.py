"""The floor under the gateway: what any Python process in the middle costs on this machine.

Issue 16's goals are absolute (added p50 <= 1 ms at concurrency 1; tiny-body rps per gateway core).
This script puts the gateway beside two stand-ins that do nothing a gateway does, measured with the
wrk harness's upstream, request and load generator, interleaved in one run:

- ``relay``: a byte relay on asyncio + uvloop (no HTTP parsing at all): the cost of a hop;
- ``nginx`` (when ``nginx`` is on PATH, e.g. Debian's ``nginx-light``): a C reverse proxy, one
  process (``master_process off``), keep-alive to the upstream, response buffering off: what a hop
  costs on this machine when no Python runs in it at all;
- ``bare``: uvicorn (httptools, uvloop) + Starlette + one aiohttp call per request, the body read
  whole, no auth, pricing, ledger or logs: the frameworks the gateway is built on, alone;
- ``imagegate``: the gateway as the harness runs it (SQLite, one route, INFO logging).

Per target: added p50/p99 over the direct call for the big body after 200 ms at concurrency 1,
and for the tiny body without delay at concurrency 32 the rps, the CPU per request read from the
scheduler (``/proc/<pid>/task/*/schedstat``: nanoseconds, not 10 ms ticks) and rps per core.

    .venv/bin/python bench/floor.py [--rounds 3] [--duration 6]

Needs ``wrk`` on PATH (the harness's load generator; ``bench/wrk/setup.sh``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway_overhead import FAKE_UPSTREAM, create_bench_key, free_port, wait_ready, write_bench_config

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk" / "bench.lua"


def serve_relay(port: int, upstream_port: int) -> None:
    """A TCP relay: every client connection gets its own upstream connection; bytes copied both ways."""
    import uvloop

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(256 * 1024):
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


def serve_bare(port: int, upstream_port: int) -> None:
    """uvicorn + Starlette + aiohttp: one upstream call per request, nothing else."""
    import aiohttp
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    sessions: list[aiohttp.ClientSession] = []
    url = f"http://127.0.0.1:{upstream_port}/v1/images/generations"

    async def generations(request: Request) -> Response:
        if not sessions:
            sessions.append(aiohttp.ClientSession())
        body = await request.body()
        headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
        async with sessions[0].post(url, data=body, headers=headers) as answer:
            data = await answer.read()
        return Response(data, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(routes=[Route("/v1/images/generations", generations, methods=["POST"]), Route("/healthz", healthz)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", http="httptools")


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {workdir}/nginx-error.log warn;
pid {workdir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/nginx-body;
    proxy_temp_path {workdir}/nginx-proxy;
    upstream provider {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_buffer_size 512k;
            proxy_buffers 4 512k;
            proxy_busy_buffers_size 1m;
        }}
    }}
}}
"""


def nginx_argv(workdir: Path, port: int, upstream_port: int) -> list[str] | None:
    """nginx as a plain reverse proxy to the upstream, or None when nginx is not installed."""
    # Debian installs it in /usr/sbin, which a non-root PATH may lack.
    nginx = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if nginx is None:
        return None
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workdir=workdir, port=port, upstream_port=upstream_port))
    return [nginx, "-c", str(conf), "-p", str(workdir)]


def wait_listening(port: int, process: subprocess.Popen[bytes], errors: Path, timeout_s: float = 10.0) -> None:
    """Return once ``port`` accepts connections; fail with the process's error log if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the stand-in exited ({process.returncode}): {errors.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout_s} s")


def cpu_ns(pid: int) -> int:
    """CPU time (ns) of every thread of ``pid`` alive now, from the scheduler's own accounting."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def wrk(url: str, body: str, delay_ms: int, concurrency: int, seconds: int, key: str | None) -> dict[str, float]:
    payload = json.dumps(
        {"model": "gpt-image-2", "prompt": f"peerbench body={body} delay_ms={delay_ms}", "n": 1, "size": "1024x1024"}
    )
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s", "-s", str(WRK_SCRIPT)]
    if key is not None:
        argv += ["-H", f"Authorization: Bearer {key}"]
    env = {**os.environ, "PB_BODY": payload, "PB_MAX_REQ": "1000000"}
    out = subprocess.run([*argv, url], env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("PBJSON "))
    found = json.loads(line[len("PBJSON ") :])
    errors = found["err_status"] + found["err_read"] + found["err_connect"] + found["err_timeout"]
    return {
        "requests": found["requests"],
        "rps": found["requests"] / found["duration_us"] * 1e6,
        "p50_ms": found["p50_us"] / 1000,
        "p99_ms": found["p99_us"] / 1000,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6, help="seconds per cell")
    parser.add_argument("--serve", choices=["relay", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "relay":
        serve_relay(args.port, args.upstream_port)
        return
    if args.serve == "bare":
        serve_bare(args.port, args.upstream_port)
        return

    workdir = Path(tempfile.mkdtemp(prefix="imagegate-floor-"))
    upstream_port = free_port()
    processes: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], env: dict[str, str] | None = None, log: str = "log") -> subprocess.Popen[bytes]:
        output = (workdir / f"{log}.log").open("wb")
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        start([sys.executable, str(FAKE_UPSTREAM), "--host", "127.0.0.1", "--port", str(upstream_port)], log="up")
        wait_ready(f"http://127.0.0.1:{upstream_port}/stats")
        targets: dict[str, tuple[int, int | None, str | None]] = {"direct": (upstream_port, None, None)}
        for name in ("relay", "bare"):
            port = free_port()
            me = [sys.executable, __file__, "--serve", name, "--port", str(port)]
            process = start([*me, "--upstream-port", str(upstream_port)], log=name)
            if name == "bare":
                wait_ready(f"http://127.0.0.1:{port}/healthz")
            else:
                time.sleep(1.0)
            targets[name] = (port, process.pid, None)
        port = free_port()
        argv = nginx_argv(workdir, port, upstream_port)
        if argv is not None:
            nginx = start(argv, log="nginx")
            wait_listening(port, nginx, workdir / "nginx-error.log")
            targets["nginx"] = (port, nginx.pid, None)
        port = free_port()
        env = {
            **os.environ,
            "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/imagegate.db",
            "IMAGEGATE_MASTER_KEY": "bench-master-key",
            "IMAGEGATE_DATA_DIR": str(workdir / "data"),
            "IMAGEGATE_LOG_LEVEL": "info",
        }
        exe = [sys.executable, "-m", "imagegate.cli"]
        key = create_bench_key(exe, env)
        config = write_bench_config(workdir, upstream_port)
        gateway = start([*exe, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)], env, "gw")
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        targets["imagegate"] = (port, gateway.pid, key)

        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_number in range(args.rounds):
            for name, (port, pid, bearer) in targets.items():
                url = f"http://127.0.0.1:{port}/v1/images/generations"
                wrk(url, "tiny", 0, 8, 1, bearer)  # warm-up
                for cell, (body, delay, concurrency) in {
                    "big/200 c1": ("big", 200, 1),
                    "tiny/0 c32": ("tiny", 0, 32),
                }.items():
                    before = cpu_ns(pid) if pid is not None else 0
                    measured = wrk(url, body, delay, concurrency, args.duration, bearer)
                    if pid is not None:
                        measured["cpu_ms"] = (cpu_ns(pid) - before) / 1e6 / max(1, measured["requests"])
                    results.setdefault((name, cell), []).append(measured)
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        report(results, list(targets))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


def report(results: dict[tuple[str, str], list[dict[str, float]]], names: list[str]) -> None:
    def median(name: str, cell: str, field: str) -> float:
        return statistics.median(row[field] for row in results[(name, cell)])

    print(
        "| target | big/200 c1 added p50 ms | added p99 ms | tiny/0 c32 rps | CPU per request ms | rps per core | errors |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        errors = sum(row["errors"] for cell in ("big/200 c1", "tiny/0 c32") for row in results[(name, cell)])
        rps = median(name, "tiny/0 c32", "rps")
        if name == "direct":
            p50, p99 = median(name, "big/200 c1", "p50_ms"), median(name, "big/200 c1", "p99_ms")
            print(f"| direct | ({p50:.2f} ms) | ({p99:.2f} ms) | {rps:,.0f} | – | – | {errors:.0f} |")
            continue
        added50 = median(name, "big/200 c1", "p50_ms") - median("direct", "big/200 c1", "p50_ms")
        added99 = median(name, "big/200 c1", "p99_ms") - median("direct", "big/200 c1", "p99_ms")
        cpu = median(name, "tiny/0 c32", "cpu_ms")
        print(
            f"| {name} | +{added50:.2f} | +{added99:.2f} | {rps:,.0f} | {cpu:.3f} | {1000 / cpu:,.0f} | {errors:.0f} |"
        )


if __name__ == "__main__":
    main()
