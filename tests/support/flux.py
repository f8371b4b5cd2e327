"""Gateway configuration and helpers for the FLUX hosts (BFL, fal, Replicate, Together) over the sandbox."""

from __future__ import annotations

import base64
import io
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from PIL import Image

# The sandbox serves result files on its other loopback name (``localhost``): the routes allow it.
FAST = {"poll_interval": 0.02, "result_hosts": ["localhost"]}
BFL_KEY = "bfl_route-secret-7c1e"
FLUX_MASTER_KEY = "mk-flux-admin"


def route(provider: str, model: str, base_url: str, *, timeout: float = 10.0, **options: Any) -> dict[str, Any]:
    """One route to the sandbox with fast polling."""
    return {
        "provider": provider,
        "model": model,
        "base_url": base_url,
        "api_key": BFL_KEY if provider == "bfl" else f"{provider}-route-secret",
        "timeout": timeout,
        "options": {**FAST, **options},
    }


def alias(name: str, *routes: dict[str, Any], attempts: int = 2, deadline: float = 60.0) -> dict[str, Any]:
    """A model alias over ``routes`` (breakers are configured by the caller)."""
    return {
        "name": name,
        "routes": list(routes),
        "deadline": deadline,
        "retry": {"max_attempts_per_route": attempts, "base_delay": 0.01},
    }


def flux_config(sandbox_url: str) -> dict[str, Any]:
    """Every FLUX alias the e2e tests use; breakers stay closed (tests fail routes on purpose)."""
    return {
        "models": [
            alias("flux-2-pro", route("bfl", "flux-2-pro", sandbox_url)),
            alias("flux-2-klein-4b", route("bfl", "flux-2-klein-4b", sandbox_url)),
            alias("flux-bfl-short", route("bfl", "flux-2-pro", sandbox_url, timeout=0.6), attempts=1),
            alias("fal-flux-2-pro", route("fal", "fal-ai/flux-2-pro", sandbox_url)),
            alias("fal-klein-4b", route("fal", "fal-ai/flux-2/klein/4b", sandbox_url)),
            alias("fal-short", route("fal", "fal-ai/flux-2-pro", sandbox_url, timeout=0.6), attempts=1),
            alias("replicate-flux-2-pro", route("replicate", "black-forest-labs/flux-2-pro", sandbox_url)),
            alias(
                "replicate-polled",
                route("replicate", "black-forest-labs/flux-2-pro", sandbox_url, prefer_wait=0),
            ),
            alias(
                "replicate-short",
                route("replicate", "black-forest-labs/flux-2-pro", sandbox_url, timeout=0.6),
                attempts=1,
            ),
            alias("together-schnell", route("together", "black-forest-labs/FLUX.1-schnell", f"{sandbox_url}/together")),
            alias(
                "together-kontext", route("together", "black-forest-labs/FLUX.1-kontext-pro", f"{sandbox_url}/together")
            ),
            alias(
                "together-short",
                route("together", "black-forest-labs/FLUX.1-schnell", f"{sandbox_url}/together", timeout=0.6),
                attempts=1,
            ),
            alias(
                "flux-2-pro-anywhere",
                route("bfl", "flux-2-pro", sandbox_url),
                route("fal", "fal-ai/flux-2-pro", sandbox_url),
                attempts=1,
            ),
        ],
        "breaker": {"consecutive_failures": 10_000, "failure_rate": 1.0, "min_calls": 10_000},
    }


def png(width: int, height: int) -> bytes:
    """A PNG of ``width x height`` (an edit's reference image)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def pixel_size(b64: str) -> tuple[int, int]:
    """The real pixel size of a base64 image."""
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        return image.size


def micros(usd: Decimal) -> int:
    """Dollars to whole micro-dollars, half-up."""
    return int((usd * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tasks(sandbox_url: str, provider: str) -> dict[str, dict[str, Any]]:
    """The sandbox's tasks of ``provider`` by id."""
    listed = httpx.get(f"{sandbox_url}/_sandbox/tasks", params={"provider": provider}).json()["tasks"]
    return {task["id"]: task for task in listed}


def wait_for(predicate: Any, timeout_s: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something truthy (a bounded wait for another process's effect)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the condition did not come true in time")
