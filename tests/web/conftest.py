"""A gateway over the sandbox with some traffic, signed-in console clients, and one headless browser."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway

MASTER_KEY = "ig-master-console-test-7f3a9c"
ROUTE_SECRET = "sk-route-secret-console-51e0"
ALIAS = "console-image"
FIRST_ROUTE = f"{ALIAS}/openai/gpt-image-2"
SECOND_ROUTE = f"{ALIAS}/openai/gpt-image-1.5"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def console_config(sandbox_url: str) -> dict[str, object]:
    """One alias with two routes (priority order), and gpt-image-2 under its own name."""

    def route(model: str) -> dict[str, object]:
        return {"provider": "openai", "model": model, "base_url": f"{sandbox_url}/v1", "api_key": ROUTE_SECRET}

    return {
        "models": [
            {"name": ALIAS, "routes": [route("gpt-image-2"), route("gpt-image-1.5")]},
            {"name": "gpt-image-2", "routes": [route("gpt-image-2")]},
        ],
        # Failures are injected on purpose: keep breakers closed so routing stays predictable.
        "breaker": {"consecutive_failures": 10_000, "failure_rate": 1.0, "min_calls": 10_000},
    }


@dataclass
class ConsoleGateway:
    """The running gateway, a client key's secret, and the request ids of the traffic sent."""

    handle: GatewayHandle
    client_key: str
    request_ids: list[str]

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return self.handle.url


def send_traffic(url: str, key: str) -> list[str]:
    """Three images on two aliases and one request the provider fails; the request ids."""
    client = OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    ids = []
    for model, prompt in ((ALIAS, "a fox"), (ALIAS, "a lighthouse"), ("gpt-image-2", "a cat")):
        raw = client.images.with_raw_response.generate(model=model, prompt=prompt, quality="low", size="1024x1024")
        ids.append(raw.headers["x-request-id"])
    failed = httpx.post(
        url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-image-2", "prompt": "[sandbox:500] a broken one", "quality": "low"},
        timeout=30,
    )
    assert failed.status_code >= 500
    ids.append(failed.headers["x-request-id"])
    return ids


@pytest.fixture(scope="module")
def console_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    """A gateway with a master key over a fresh SQLite database, after some real traffic."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("console") / "imagegate.db")
    with running_gateway(engine, console_config(sandbox_url), master_key=MASTER_KEY) as handle:
        key = handle.create_key("console-client")
        ids = send_traffic(handle.url, key)
        assert handle.runtime.ledger.wait_idle(10.0)
        yield ConsoleGateway(handle=handle, client_key=key, request_ids=ids)
    engine.dispose()


def signed_in_client(url: str, key: str) -> httpx.Client:
    """An HTTP client that signed in through the form (as a browser would), cookies kept."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    form = client.get("/console/sign-in")
    token = csrf_of(form.text)
    answer = client.post("/console/sign-in", data={"key": key, "csrf": token, "next": "/console/overview"})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture
def admin(console_gateway: ConsoleGateway) -> Iterator[httpx.Client]:
    """Signed in with the master key."""
    client = signed_in_client(console_gateway.url, MASTER_KEY)
    yield client
    client.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium (Debian's) for the whole session, driven by Playwright."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs it: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
