"""Fixtures shared across the suite: the sandbox as every provider, and real gateway servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagegate.sandbox.config import SandboxConfig
from imagegate.sandbox.server import running_sandbox
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config

GPT_MODELS = ["gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini"]


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """A sandbox speaking every provider's wire format, on a free port, for the whole session."""
    with running_sandbox(SandboxConfig()) as url:
        yield url


@pytest.fixture
def sandbox_control(sandbox_url: str) -> Iterator[httpx.Client]:
    """The sandbox's control API; faults and the request log are cleared around each test."""
    with httpx.Client(base_url=sandbox_url) as client:
        client.delete("/_sandbox/faults")
        yield client
        client.delete("/_sandbox/faults")


@pytest.fixture(scope="module")
def gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """A gateway over a fresh SQLite database, every GPT Image alias routed to the sandbox."""
    path: Path = tmp_path_factory.mktemp("gateway") / "imagegate.db"
    engine = migrated_sqlite_engine(path)
    document = sandbox_models_config(sandbox_url, GPT_MODELS, api_key="sk-route-secret-4d2f")
    # Tests in a module share this gateway and inject failures on purpose: keep its breakers closed
    # (tests/e2e/test_routing.py trips them on a gateway of its own).
    document["breaker"] = {"consecutive_failures": 10_000, "failure_rate": 1.0, "min_calls": 10_000}
    with running_gateway(engine, document) as handle:
        yield handle
    engine.dispose()
