"""The fault mix, run once per session: a sandbox of its own, a gateway over it, every case at once.

Tests only read the evidence it leaves (what clients saw, the ledger, the sandbox's request log), so
under pytest-xdist one worker runs the mix and the others read its result (tests/support/once.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from imagegate.sandbox.config import SandboxConfig
from imagegate.sandbox.server import running_sandbox
from tests.reliability.fault_mix import CASES, gateway_config, run_mix
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway
from tests.support.google import BEFORE_IMAGEN_SHUTDOWN
from tests.support.once import once_per_session


@dataclass
class MixEvidence:
    """What the mix left behind, per case id: client outcomes and ledger rows; and the provider's log."""

    outcomes: dict[str, list[dict[str, Any]]]
    rows: dict[str, list[dict[str, Any]]]
    unattributed_rows: list[dict[str, Any]]
    provider_calls: list[dict[str, Any]]
    provider_call_count: int


def _run_mix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("fault-mix") / "imagegate.db")
    # hang_max_s only guards against a gateway that never gives up; the routes' timeouts end hangs first.
    with (
        running_sandbox(SandboxConfig(hang_max_s=30)) as sandbox_url,
        running_gateway(
            engine,
            gateway_config(sandbox_url),
            today=lambda: BEFORE_IMAGEN_SHUTDOWN,
            # The whole mix is one burst; the gateway's default in-flight cap (256) would refuse its tail.
            max_inflight_requests=4096,
        ) as gateway,
    ):
        keys = {case.id: gateway.create_key(case.id) for case in CASES}
        outcomes = asyncio.run(run_mix(gateway.url, keys))
        ledger = [{**dataclasses.asdict(row), "created_at": row.created_at.isoformat()} for row in gateway.ledger()]
        log = httpx.get(sandbox_url + "/_sandbox/requests").json()
    engine.dispose()
    return {"outcomes": outcomes, "ledger": ledger, "provider_calls": log["requests"], "count": log["count"]}


@pytest.fixture(scope="session")
def mix(tmp_path_factory: pytest.TempPathFactory) -> MixEvidence:
    """The evidence of one run of the whole fault mix (every case ``REQUESTS_PER_CASE`` times, concurrently)."""
    raw = once_per_session(tmp_path_factory, "fault-mix", lambda: _run_mix(tmp_path_factory))
    rows: dict[str, list[dict[str, Any]]] = {case.id: [] for case in CASES}
    unattributed = []
    for row in raw["ledger"]:
        if row["key_name"] in rows:
            rows[row["key_name"]].append(row)
        else:
            unattributed.append(row)
    return MixEvidence(raw["outcomes"], rows, unattributed, raw["provider_calls"], raw["count"])
