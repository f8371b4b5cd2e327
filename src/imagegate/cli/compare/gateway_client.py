"""What ``imagegate compare`` asks the gateway besides the image requests.

The run is registered (``POST /api/compare/runs``) and each finished cell recorded (``PUT
.../cells/{cell}``), so the gateway (its console, its reports) knows the run; the report reads the
run back (``GET /api/compare/runs/{id}``: cells, the ledger's usage per request with verdicts, and
the per-model summary); verdicts go through ``POST /v1/images/feedback``. All with the run's key.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import httpx

from imagegate.cli.compare.run_state import CellRecord, RunManifest
from imagegate.service.compare_runs import MAX_PROMPT_DISPLAY_CHARS, RequestUsage


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


async def register_run(client: httpx.AsyncClient, manifest: RunManifest) -> None:
    """Tell the gateway about the run (registering it again is harmless)."""
    response = await client.post(
        "/api/compare/runs",
        json={
            "run_id": manifest.run_id,
            "name": manifest.workload_name,
            "prompts": [prompt[:MAX_PROMPT_DISPLAY_CHARS] for prompt in manifest.prompts],
            "models": manifest.models,
            "cells": manifest.cells,
        },
    )
    _raise_for(response)


async def record_cell(client: httpx.AsyncClient, run_id: str, record: CellRecord) -> None:
    """Record one finished cell at the gateway."""
    fields = asdict(record)
    body = {
        name: fields[name]
        for name in (
            "prompt_index",
            "model",
            "repetition",
            "status",
            "images_requested",
            "request_id",
            "latency_ms",
            "error_code",
        )
    }
    body["images"] = len(record.images)
    body["image_urls"] = record.image_urls[:16]
    body["error_message"] = None if record.error_message is None else record.error_message[:2000]
    response = await client.put(f"/api/compare/runs/{run_id}/cells/{record.cell_id}", json=body)
    _raise_for(response)


async def run_detail(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """The run as the gateway has it: cells, usage per request and the per-model summary."""
    response = await client.get(f"/api/compare/runs/{run_id}")
    _raise_for(response)
    detail: dict[str, Any] = response.json()
    return detail


def usage_by_request(detail: dict[str, Any]) -> dict[str, RequestUsage]:
    """The detail's ``usage`` list, by request id."""
    return {
        item["request_id"]: RequestUsage(
            request_id=item["request_id"],
            cost_micros=int(item["cost_micros"]),
            estimated_micros=int(item["estimated_micros"]),
            attempts=int(item["attempts"]),
            failed_attempts=int(item["failed_attempts"]),
            images=int(item["images"]),
            verdicts={int(index): bool(accepted) for index, accepted in item["feedback"].items()},
        )
        for item in detail["usage"]
    }


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
