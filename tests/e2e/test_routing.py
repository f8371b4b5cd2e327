"""Routing that survives provider failure, end to end: fallback across providers, breakers, policies."""

from __future__ import annotations

import base64
import io

import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway


def _route(provider: str, model: str, base_url: str, **extra) -> dict:
    return {"provider": provider, "model": model, "base_url": base_url, "api_key": "k", "timeout": 10, **extra}


@pytest.fixture
def routed(sandbox_url, sandbox_control, tmp_path):
    """A gateway whose aliases mix providers; breakers trip after 2 consecutive failures."""
    document = {
        "models": [
            {
                "name": "resilient",
                "retry": {"max_attempts_per_route": 2, "base_delay": 0.01},
                "routes": [
                    _route("openai", "gpt-image-2", sandbox_url + "/v1"),
                    _route("gemini", "gemini-2.5-flash-image", sandbox_url),
                ],
            },
            {
                "name": "thrifty",
                "policy": "cheapest",
                "routes": [
                    _route("openai", "gpt-image-2", sandbox_url + "/v1"),
                    _route("openai", "gpt-image-1-mini", sandbox_url + "/v1"),
                ],
            },
            {
                "name": "hurried",
                "deadline": 1.0,
                "retry": {"max_attempts_per_route": 5, "base_delay": 0.01},
                "routes": [_route("openai", "gpt-image-2", sandbox_url + "/v1")],
            },
        ],
        "breaker": {"consecutive_failures": 2, "cooldown": 60},
    }
    engine = migrated_sqlite_engine(tmp_path / "routing.db")
    with running_gateway(engine, document, master_key="mk-routing") as handle:
        yield handle
    engine.dispose()


def _client(handle) -> OpenAI:
    return OpenAI(base_url=handle.url + "/v1", api_key=handle.create_key("routing"), max_retries=0)


def test_openai_route_down_gemini_route_serves_with_translation(routed, sandbox_control):
    sandbox_control.post("/_sandbox/faults", json={"fault": "500", "count": 2, "model": "gpt-image-2"})
    raw = _client(routed).images.with_raw_response.generate(model="resilient", prompt="a lighthouse", size="1536x1024")
    response = raw.parse()
    image = Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json)))
    assert image.width > image.height  # 1536x1024 became a landscape aspect ratio on Gemini
    assert raw.headers["x-imagegate-route"] == "resilient/gemini/gemini-2.5-flash-image"
    rows = routed.ledger(raw.headers["x-request-id"])
    assert [(row.attempt, row.provider, row.status, row.error_code) for row in rows] == [
        (1, "openai", "error", "upstream_unavailable"),
        (2, "openai", "error", "upstream_unavailable"),
        (3, "gemini", "ok", None),
    ]
    assert rows[2].cost_micros > 0 and rows[2].usage["candidatesTokenCount"] > 0


def test_open_breaker_skips_the_route_without_calling_it(routed, sandbox_control):
    client = _client(routed)
    sandbox_control.post("/_sandbox/faults", json={"fault": "503", "count": 2, "model": "gpt-image-2"})
    client.images.generate(model="resilient", prompt="first")  # two failures on openai: its breaker opens
    sandbox_control.delete("/_sandbox/requests")
    raw = client.images.with_raw_response.generate(model="resilient", prompt="second")
    rows = routed.ledger(raw.headers["x-request-id"])
    assert [(row.provider, row.status) for row in rows] == [("gemini", "ok")]
    calls = sandbox_control.get("/_sandbox/requests").json()
    assert calls["count"] == 1


def test_cheapest_policy_picks_the_route_with_the_lowest_quote(routed):
    raw = _client(routed).images.with_raw_response.generate(
        model="thrifty", prompt="x", size="1024x1024", quality="low"
    )
    # gpt-image-1-mini low 1024x1024 quotes below gpt-image-2 low (196 tokens at $30/1M ≈ $0.0059).
    assert raw.headers["x-imagegate-route"] == "thrifty/openai/gpt-image-1-mini"


def test_retries_stop_at_the_request_deadline(routed):
    with pytest.raises(openai.APIStatusError) as info:
        _client(routed).images.generate(model="hurried", prompt="[sandbox:slow=0.4] [sandbox:500] x")
    rows = routed.ledger(info.value.response.headers["x-request-id"])
    # 5 attempts allowed, but 0.4 s each leaves room for only a few inside the 1 s deadline.
    assert 2 <= len(rows) < 5
    assert info.value.status_code in (502, 504)


def test_invalid_requests_never_fall_back(routed, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError):
        _client(routed).images.generate(model="resilient", prompt="[sandbox:moderation] x")
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1


def test_admins_can_pin_a_route_and_others_cannot(routed):
    key = routed.create_key("pinner")
    body = {"model": "resilient", "prompt": "x"}
    pinned = httpx.post(
        routed.url + "/v1/images/generations",
        json=body,
        timeout=30,
        headers={
            "authorization": f"Bearer {key}",
            "x-imagegate-pin-route": "resilient/gemini/gemini-2.5-flash-image",
            "x-imagegate-admin-key": "mk-routing",
        },
    )
    assert pinned.status_code == 200
    assert pinned.headers["x-imagegate-route"] == "resilient/gemini/gemini-2.5-flash-image"
    refused = httpx.post(
        routed.url + "/v1/images/generations",
        json=body,
        timeout=30,
        headers={"authorization": f"Bearer {key}", "x-imagegate-pin-route": "resilient/gemini/gemini-2.5-flash-image"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "x-imagegate-pin-route"
    unknown = httpx.post(
        routed.url + "/v1/images/generations",
        json=body,
        timeout=30,
        headers={
            "authorization": f"Bearer {key}",
            "x-imagegate-pin-route": "nope",
            "x-imagegate-admin-key": "mk-routing",
        },
    )
    assert unknown.status_code == 400 and "candidates" in unknown.json()["error"]["message"]


def test_pinning_works_in_the_gemini_dialect_too(routed):
    key = routed.create_key("gemini-pinner")
    body = {"contents": [{"role": "user", "parts": [{"text": "a fox"}]}]}
    pinned = httpx.post(
        routed.url + "/v1beta/models/resilient:generateContent",
        json=body,
        timeout=30,
        headers={
            "x-goog-api-key": key,
            "x-imagegate-pin-route": "resilient/openai/gpt-image-2",
            "x-imagegate-admin-key": "mk-routing",
        },
    )
    assert pinned.status_code == 200
    assert pinned.headers["x-imagegate-route"] == "resilient/openai/gpt-image-2"
    refused = httpx.post(
        routed.url + "/v1beta/models/resilient:generateContent",
        json=body,
        timeout=30,
        headers={"x-goog-api-key": key, "x-imagegate-pin-route": "resilient/openai/gpt-image-2"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("fault", ["401", "quota"])
def test_route_faults_that_retrying_cannot_fix_fall_back_at_once(routed, sandbox_control, fault):
    sandbox_control.post("/_sandbox/faults", json={"fault": fault, "count": 1, "model": "gpt-image-2"})
    raw = _client(routed).images.with_raw_response.generate(model="resilient", prompt="x")
    rows = routed.ledger(raw.headers["x-request-id"])
    assert [(row.provider, row.status) for row in rows] == [("openai", "error"), ("gemini", "ok")]
