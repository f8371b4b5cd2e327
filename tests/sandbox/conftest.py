"""Fixtures for the sandbox tests: one real sandbox server per test session (per xdist worker)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from imagegate.sandbox import SandboxConfig, running_sandbox
from tests.sandbox.helpers import API_KEY, AUTH


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """Base URL (no /v1) of a default-config sandbox shared by the session."""
    with running_sandbox(SandboxConfig()) as url:
        yield url


@pytest.fixture
def client(sandbox_url: str) -> Iterator[httpx.Client]:
    """An httpx client on the shared sandbox, with faults and the request log cleared first."""
    with httpx.Client(base_url=sandbox_url, headers=AUTH, timeout=10.0) as http:
        http.delete("/_sandbox/faults").raise_for_status()
        http.delete("/_sandbox/requests").raise_for_status()
        yield http
        http.delete("/_sandbox/faults")


@pytest.fixture
def oai(sandbox_url: str, client: httpx.Client) -> Iterator[OpenAI]:
    """The official SDK pointed at the shared sandbox (no retries, so each call is one request)."""
    sdk = OpenAI(base_url=sandbox_url + "/v1", api_key=API_KEY, max_retries=0, timeout=10.0)
    yield sdk
    sdk.close()
