"""Gateway memory under load: peak RSS with many large generations and with large edits in flight.

Each scenario runs against a fresh gateway process (so its peak RSS, VmHWM, is that scenario's
alone) in front of the sandbox, with the client as a third process:

- ``generations``: 64 concurrent ``gpt-image-2`` generations at 3840x2160, quality high;
- ``edits``: 8 concurrent edits, each uploading one ~27 MB PNG.

With ``--dialect gemini`` the generations are Gemini ``generateContent`` calls (4K, 16:9) to a
``gemini-3.1-flash-image`` route, in the Gemini dialect (no edits scenario).

    python bench/memory.py [--generations 64] [--edits 8] [--edit-mib 27] [--body-bytes N]
                           [--dialect openai|gemini]
                           [--variant before:PYTHONPATH=/work/main/src --variant now:]

The generations' answer is realistically sized by default: the sandbox's own 3840x2160 render is a
flat test picture that compresses to ~0.25 MB, while a photo-like 3840x2160 PNG (what ``quality:
high`` returns) is ~12 MB, ~16 MB in base64. ``--body-bytes`` (default 16 MiB) sets the whole
answer through the sandbox's benchmark mode; ``--body-bytes 0`` uses the sandbox's render.

Prints, per scenario and variant (``label:KEY=VALUE,...`` environment overrides, e.g. another
build's ``PYTHONPATH``), the gateway's RSS when idle (after one warm-up request), its peak RSS,
and the peak per request in flight above idle. The budget settings are raised out of the way, so
the figures show what the requests themselves hold.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from gateway_overhead import (
    create_bench_key,
    free_port,
    parse_variant,
    peak_rss_mib,
    wait_ready,
    write_bench_config,
)
from PIL import Image

Request = tuple[str, aiohttp.FormData | bytes]
GENERATION = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "size": "3840x2160", "quality": "high"}
GEMINI_GENERATION = {
    "contents": [{"parts": [{"text": "a lighthouse at dusk"}]}],
    "generationConfig": {"imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"}},
}
GEMINI_PATH = "/v1beta/models/nano-banana-2:generateContent"


def write_gemini_config(workdir: Path, upstream_port: int) -> Path:
    """A gateway config with one ``nano-banana-2`` route (Gemini API) to the sandbox on ``upstream_port``."""
    config = workdir / "bench-gemini.yaml"
    config.write_text(
        "models:\n  - name: nano-banana-2\n    routes:\n      - provider: gemini\n"
        f"        model: gemini-3.1-flash-image\n        base_url: http://127.0.0.1:{upstream_port}\n"
        "        api_key: AIza-bench\n"
    )
    return config


def current_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def noise_png(mib: int) -> bytes:
    """A PNG of random pixels (incompressible), about ``mib`` MiB."""
    side = int((mib * 1024 * 1024 / 3) ** 0.5)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


@contextmanager
def gateway_process(exe: list[str], env: dict[str, str], config: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen(
        [*exe, "serve", "--config", str(config), "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


async def post_all(requests: list[Request], headers: dict[str, str]) -> int:
    """Send every request at once (``headers`` carry the key); the size of the largest answer."""
    connector = aiohttp.TCPConnector(limit=len(requests))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as client:

        async def one(url: str, data: aiohttp.FormData | bytes) -> int:
            extra = {"content-type": "application/json"} if isinstance(data, bytes) else {}
            async with client.post(url, data=data, headers={**headers, **extra}) as response:
                if response.status != 200:
                    raise SystemExit(f"bad answer: {response.status} {(await response.read())[:300]!r}")
                # Counted, not kept: the client's memory is not what is measured.
                return sum([len(chunk) async for chunk in response.content.iter_chunked(1 << 20)])

        return max(await asyncio.gather(*(one(url, data) for url, data in requests)))


def edit_form(image: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("model", "gpt-image-2")
    form.add_field("prompt", "add a red hat")
    form.add_field("size", "1024x1024")
    form.add_field("quality", "low")
    form.add_field("image", image, filename="big.png", content_type="image/png")
    return form


def scenario(
    name: str,
    exe: list[str],
    env: dict[str, str],
    config: Path,
    headers: dict[str, str],
    build: Callable[[str], list[Request]],
) -> None:
    with gateway_process(exe, env, config) as (url, pid):
        asyncio.run(post_all(build(url)[:1], headers))  # warm-up: one request alone
        idle = current_rss_mib(pid)
        requests = build(url)
        answer = asyncio.run(post_all(requests, headers))
        peak = peak_rss_mib(pid)
    per_request = (peak - idle) / len(requests)
    print(
        f"{name}: {len(requests)} concurrent -> gateway idle {idle:.0f} MiB, peak {peak:.0f} MiB "
        f"({per_request:.1f} MiB per request in flight; answers of {answer / 1024 / 1024:.1f} MiB)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=64)
    parser.add_argument("--edits", type=int, default=8)
    parser.add_argument("--edit-mib", type=int, default=27)
    parser.add_argument(
        "--body-bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="Every generation answers with a pre-encoded body this large (sandbox benchmark mode); "
        "0: the sandbox's own render (~0.3 MB at 4K).",
    )
    parser.add_argument("--dialect", choices=("openai", "gemini"), default="openai")
    parser.add_argument("--variant", action="append", default=[], help="label:KEY=VALUE,... (repeatable)")
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variant] or [("gateway", {})]

    exe = [sys.executable, "-m", "imagegate.cli"]
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-bench-"))
    env = {
        **os.environ,
        "IMAGEGATE_DATA_DIR": str(workdir),
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
        "IMAGEGATE_LOG_LEVEL": "warning",
        # Out of the way: this measures what the requests hold, not the budget's refusals.
        "IMAGEGATE_MAX_INFLIGHT_REQUESTS": "100000",
        "IMAGEGATE_MAX_INFLIGHT_BODY_BYTES": str(1 << 40),
    }
    up_port = free_port()
    fixed = [] if args.body_bytes == 0 else ["--fixed-image-bytes", str(args.body_bytes)]
    upstream = subprocess.Popen([*exe, "sandbox", "--port", str(up_port), *fixed], env=env)
    gemini = args.dialect == "gemini"
    config = write_gemini_config(workdir, up_port) if gemini else write_bench_config(workdir, up_port)
    key = create_bench_key(exe, env)
    headers = {"x-goog-api-key": key} if gemini else {"authorization": f"Bearer {key}"}
    image = noise_png(args.edit_mib)
    body = "the sandbox's render" if args.body_bytes == 0 else f"{args.body_bytes / 1024 / 1024:.1f} MiB"
    print(f"generation answer: {body}; edit upload: {len(image) / 1024 / 1024:.1f} MiB PNG", flush=True)
    generation = json.dumps(GEMINI_GENERATION if gemini else GENERATION).encode()
    generation_path = GEMINI_PATH if gemini else "/v1/images/generations"
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/healthz")
        for label, overrides in variants:
            variant_env = {**env, **overrides}
            scenario(
                f"[{label}] " + ("gemini generateContent 4K" if gemini else "generations 3840x2160 high"),
                exe,
                variant_env,
                config,
                headers,
                lambda url: [(f"{url}{generation_path}", generation)] * args.generations,
            )
            if gemini:
                continue
            scenario(
                f"[{label}] edits {args.edit_mib} MiB",
                exe,
                variant_env,
                config,
                headers,
                lambda url: [(f"{url}/v1/images/edits", edit_form(image)) for _ in range(args.edits)],
            )
    finally:
        upstream.terminate()
        upstream.wait(timeout=30)


if __name__ == "__main__":
    main()
