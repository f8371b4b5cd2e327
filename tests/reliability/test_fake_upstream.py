"""Shapes the sandbox cannot produce: a 200 whose JSON is not what the provider documents (issue 8, defect 3).

A ten-line fake upstream answers every call with one fixed body and counts the calls. Each must end
as 502 ``upstream_bad_response`` in the client's dialect, with one ledger row per provider call.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, free_port, running_gateway

BODIES: dict[str, Any] = {
    "usage-details-not-an-object": {"data": [{"b64_json": "aGk="}], "usage": {"input_tokens_details": "x"}},
    "data-item-not-an-object": {"data": [1]},
}


class FakeUpstream:
    """An OpenAI-like ``/v1/images/generations`` answering 200 with ``body`` and counting calls."""

    def __init__(self) -> None:
        self.body: Any = {}
        self.calls = 0

    async def generate(self, request: Request) -> JSONResponse:
        await request.body()
        self.calls += 1
        return JSONResponse(self.body, headers={"x-request-id": f"req_fake{self.calls}"})


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[tuple[FakeUpstream, str]]:
    """The fake served by uvicorn on a free port, in a thread."""
    fake = FakeUpstream()
    app = Starlette(routes=[Route("/v1/images/generations", fake.generate, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def fake_gateway(
    fake_upstream: tuple[FakeUpstream, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    """A gateway whose ``gpt-image-2`` route is the fake (served as is, and translated for Gemini clients)."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("fake-upstream") / "imagegate.db")
    route = {"provider": "openai", "model": "gpt-image-2", "base_url": fake_upstream[1] + "/v1", "api_key": "sk-x"}
    # Each case fails the route on purpose: a tripped breaker would make outcomes depend on order.
    breaker = {"consecutive_failures": 100_000, "failure_rate": 1.0, "min_calls": 100_000}
    document = {"models": [{"name": "gpt-image-2", "routes": [route], "retry": {"base_delay": 0}}], "breaker": breaker}
    with running_gateway(engine, document) as handle:
        yield handle
    engine.dispose()


def _call(gateway: GatewayHandle, dialect: str, key: str) -> httpx.Response:
    if dialect == "openai":
        return httpx.post(
            gateway.url + "/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "a fox", "quality": "low"},
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
    return httpx.post(
        gateway.url + "/v1beta/models/gpt-image-2:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "a fox"}]}]},
        headers={"x-goog-api-key": key},
        timeout=30,
    )


@pytest.mark.parametrize("dialect", ["openai", "gemini"], ids=["pass-through", "translated"])
@pytest.mark.parametrize("shape", list(BODIES))
def test_an_unexpected_200_shape_is_a_bad_response_with_a_row_per_call(
    fake_upstream: tuple[FakeUpstream, str], fake_gateway: GatewayHandle, shape: str, dialect: str
) -> None:
    fake, _ = fake_upstream
    fake.body, fake.calls = BODIES[shape], 0
    name = f"fake-{uuid.uuid4().hex[:8]}"
    response = _call(fake_gateway, dialect, fake_gateway.create_key(name))
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    if dialect == "openai":
        assert error["code"] == "upstream_bad_response"
    else:
        assert (error["code"], error["status"]) == (502, "UNAVAILABLE")
    rows = [row for row in fake_gateway.ledger() if row.key_name == name]
    assert fake.calls >= 1 and len(rows) == fake.calls
    assert {(row.status, row.error_code, row.http_status) for row in rows} == {("error", "upstream_bad_response", 200)}
    assert sorted(row.provider_request_id or "" for row in rows) == [f"req_fake{n}" for n in range(1, fake.calls + 1)]
