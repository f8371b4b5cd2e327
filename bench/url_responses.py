"""URL responses: what storing the image costs over the base64 pass-through, per store.

The upstream is the sandbox in benchmark mode (a fixed delay and a pre-encoded ~1.4 MB body); the
gateway runs as its own process with local storage, then with S3 storage on a moto server process
(``--s3``). Requests alternate between ``b64_json`` and ``url`` so machine drift hits both alike.

    python bench/url_responses.py [--requests 40] [--s3]

Prints, per store, p50/p99 latency of b64_json and url answers at concurrency 1 (the difference is
decoding and writing the image), and p50 of fetching the link.
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
from gateway_overhead import create_bench_key, free_port, percentile, wait_ready, write_bench_config


def _storage_env(kind: str, moto_url: str | None) -> dict[str, str]:
    if kind == "local":
        return {"IMAGEGATE_STORAGE": "local"}
    assert moto_url is not None
    bucket = f"bench-{int(time.time())}"
    httpx.put(f"{moto_url}/{bucket}").raise_for_status()
    return {
        "IMAGEGATE_STORAGE": "s3",
        "IMAGEGATE_S3_BUCKET": bucket,
        "IMAGEGATE_S3_ENDPOINT_URL": moto_url,
        "IMAGEGATE_S3_REGION": "us-east-1",
        "IMAGEGATE_S3_ACCESS_KEY_ID": "bench",
        "IMAGEGATE_S3_SECRET_ACCESS_KEY": "bench",
        "IMAGEGATE_S3_PATH_STYLE": "true",
    }


def _timed_post(client: httpx.Client, url: str, key: str, response_format: str | None) -> tuple[float, dict]:
    body = {"model": "gpt-image-2", "prompt": "a lighthouse", "size": "1024x1024", "quality": "low"}
    if response_format is not None:
        body["response_format"] = response_format
    started = time.perf_counter()
    response = client.post(url, json=body, headers={"authorization": f"Bearer {key}"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"bad answer: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


def run_store(kind: str, args: argparse.Namespace, workdir: Path, up_port: int, moto_url: str | None) -> None:
    exe = [sys.executable, "-m", "imagegate.cli"]
    data = workdir / kind
    env = {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(data),
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{data}/bench.db",
        "IMAGEGATE_LOG_LEVEL": "warning",
        **_storage_env(kind, moto_url),
    }
    data.mkdir()
    config = write_bench_config(data, up_port)
    key = create_bench_key(exe, env)
    port = free_port()
    gateway = subprocess.Popen([*exe, "serve", "--config", str(config), "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}/v1/images/generations"
    timings: dict[str, list[float]] = {"b64_json": [], "url": [], "fetch": []}
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        with httpx.Client(timeout=60) as client:
            for _ in range(3):  # warm-up: connections, the S3 client, the store's directories
                _timed_post(client, url, key, "url")
            for index in range(args.requests * 2):
                response_format = "url" if index % 2 else None
                elapsed, answer = _timed_post(client, url, key, response_format)
                timings["url" if response_format else "b64_json"].append(elapsed)
                if response_format is not None:
                    started = time.perf_counter()
                    fetched = client.get(answer["data"][0]["url"])
                    timings["fetch"].append(time.perf_counter() - started)
                    assert fetched.status_code == 200 and len(fetched.content) > 100_000
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)

    def ms(name: str, q: float) -> float:
        return percentile(timings[name], q) * 1000

    print(
        f"{kind:5}: b64_json p50 {ms('b64_json', 50):.1f} ms p99 {ms('b64_json', 99):.1f} ms | "
        f"url p50 {ms('url', 50):.1f} ms p99 {ms('url', 99):.1f} ms "
        f"(+{ms('url', 50) - ms('b64_json', 50):.1f} ms p50) | fetch p50 {ms('fetch', 50):.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=40, help="requests of each format per store")
    parser.add_argument("--s3", action="store_true", help="also measure S3 storage on a moto server process")
    parser.add_argument("--delay-ms", type=int, default=200)
    parser.add_argument("--body-bytes", type=int, default=1_400_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-bench-urls-"))
    up_port = free_port()
    sandbox_cmd = [sys.executable, "-m", "imagegate.cli", "sandbox", "--port", str(up_port)]
    sandbox_cmd += ["--fixed-delay-ms", str(args.delay_ms), "--fixed-image-bytes", str(args.body_bytes)]
    processes = [subprocess.Popen(sandbox_cmd, env={**os.environ, "IMAGEGATE_LOG_LEVEL": "warning"})]
    moto_url = None
    if args.s3:
        moto_port = free_port()
        moto_cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)]
        processes.append(subprocess.Popen(moto_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        moto_url = f"http://127.0.0.1:{moto_port}"
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/healthz")
        if moto_url is not None:
            wait_ready(moto_url + "/moto-api/")
        print(f"upstream: sandbox, {args.delay_ms} ms delay, {args.body_bytes:,}-byte body; {os.cpu_count()} cores")
        for kind in ["local", "s3"] if args.s3 else ["local"]:
            run_store(kind, args, workdir, up_port, moto_url)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
