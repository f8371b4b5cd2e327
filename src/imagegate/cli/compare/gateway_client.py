"""What ``imagegate compare`` asks the gateway besides the image requests: the run's ledger, and verdicts.

``GET /api/usage?tag=compare_run=<id>`` answers the calling key's own requests with that tag, summed
per request from the ledger (every attempt) with the current verdicts; ``POST /v1/images/feedback``
records one verdict. Both use the key the run used.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegate.cli.compare.runner import RUN_TAG
from imagegate.cli.compare.summary import RequestUsage

PAGE_SIZE = 500


class GatewayRefused(RuntimeError):
    """The gateway answered an error; the message is its own."""


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    raise GatewayRefused(f"{response.request.method} {response.request.url.path}: {response.status_code} {message}")


async def run_usage(client: httpx.AsyncClient, run_id: str) -> dict[str, RequestUsage]:
    """Every request of the run as the ledger has it, by request id (all pages)."""
    usage: dict[str, RequestUsage] = {}
    params: dict[str, Any] = {"tag": f"{RUN_TAG}={run_id}", "limit": PAGE_SIZE}
    while True:
        response = await client.get("/api/usage", params=params)
        _raise_for(response)
        page = response.json()
        for item in page["data"]:
            request = RequestUsage.from_api(item)
            usage[request.request_id] = request
        if not page.get("has_more"):
            return usage
        params["after"] = page["data"][-1]["request_id"]


async def give_verdict(client: httpx.AsyncClient, request_id: str, image_index: int, accepted: bool) -> None:
    """Record one verdict through the public feedback endpoint."""
    response = await client.post(
        "/v1/images/feedback", json={"request_id": request_id, "image_index": image_index, "accepted": accepted}
    )
    _raise_for(response)


def gateway_client(url: str, key: str, timeout_s: float) -> httpx.AsyncClient:
    """An HTTP client for the gateway at ``url`` with the run's key."""
    return httpx.AsyncClient(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(timeout_s, connect=10.0),
        limits=httpx.Limits(max_connections=64),
    )
