"""ImageService rules through a scripted transport (tests/support/scripted_http.py): no sockets, no sleeps."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from imagegate.accounting.auth import Principal
from imagegate.accounting.ports import LedgerEntry
from imagegate.catalog import load_catalog
from imagegate.domain.errors import ProviderInvalidRequest, RateLimited, UpstreamUnavailable
from imagegate.domain.request import ImageRequest
from imagegate.providers.base import RouteTarget
from imagegate.providers.registry import builtin_registry
from imagegate.route_config import facts_from_catalog
from imagegate.routing.retry import RetryPolicy
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.images import ImageService
from imagegate.service.plan import Plan, plan_request
from tests.support.scripted_http import Reply, ScriptedHttp

CATALOG = load_catalog()
REGISTRY = builtin_registry()
OPENAI_A = "https://a.example/v1/images/generations"
OPENAI_B = "https://b.example/v1/images/generations"
GEMINI = "https://g.example/v1beta/models/gemini-2.5-flash-image:generateContent"
USAGE = {
    "input_tokens": 2,
    "input_tokens_details": {"text_tokens": 2, "image_tokens": 0},
    "output_tokens": 1756,
    "total_tokens": 1758,
    "output_tokens_details": {"image_tokens": 1756, "text_tokens": 0},
}
# gpt-image-2 at $5/M text in and $30/M image out: 2 x 5 + 1756 x 30 = 52,690 micro-dollars.
USAGE_COST_MICROS = 52_690
OK = Reply.json(200, {"created": 1, "data": [{"b64_json": "aGk="}], "usage": USAGE}, x_request_id="req_up_1")


class Ledger:
    """The service's ledger writer, kept in memory."""

    def __init__(self) -> None:
        self.rows: list[LedgerEntry] = []
        self.pending: dict[tuple[str, int], LedgerEntry] = {}

    def begin(self, unknown_outcome: LedgerEntry) -> None:
        self.pending[(unknown_outcome.request_id, unknown_outcome.attempt)] = unknown_outcome

    def forget(self, request_id: str, attempt: int) -> None:
        del self.pending[(request_id, attempt)]

    def record(self, entry: LedgerEntry) -> None:
        del self.pending[(entry.request_id, entry.attempt)]  # every row completes the attempt begun before it
        self.rows.append(entry)


def _target(name: str, provider: str, model: str, base_url: str) -> RouteTarget:
    return RouteTarget(name=name, alias="pic", provider=provider, model=model, base_url=base_url, api_key="k")


def _plan(targets: list[RouteTarget], *, n: int | None = None, retry: RetryPolicy | None = None) -> Plan:
    alias = ModelAlias("pic", tuple(targets), retry=retry or RetryPolicy(base_delay_s=0.01, max_delay_s=0.01))
    return plan_request(
        request_id="req_1",
        request=ImageRequest(operation="generate", model="pic", prompt="a fox", dialect="openai-images", n=n),
        principal=Principal(key_id=1, key_name="k", models=None),
        routes=RouteTable([alias]),
        registry=REGISTRY,
        facts=facts_from_catalog(CATALOG),
    )


OPENAI_ROUTES = [
    _target("a", "openai", "gpt-image-2", "https://a.example/v1"),
    _target("b", "openai", "gpt-image-2", "https://b.example/v1"),
]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits the service asked for; none is actually slept."""
    asked: list[float] = []
    real_sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        # asyncio.sleep is one module attribute for every thread: servers other tests left running
        # in this worker (polling loops) call it too. Only the service's own waits are the test's.
        if sys._getframe(1).f_globals.get("__name__") != "imagegate.service.attempt_loop":
            await real_sleep(delay)
            return
        asked.append(delay)
        await real_sleep(0)

    monkeypatch.setattr("imagegate.service.attempt_loop.asyncio.sleep", fake_sleep)
    return asked


async def _serve(http: ScriptedHttp, plan: Plan) -> tuple[Any, Ledger]:
    ledger = Ledger()
    service = ImageService(http=http, ledger=ledger)  # type: ignore[arg-type]  # an in-memory ledger
    served = await service.serve(plan, keep_raw_for=None)
    return served, ledger


async def test_success_is_one_row_priced_from_usage_with_the_provider_request_id():
    http = ScriptedHttp({OPENAI_A: [OK]})
    served, ledger = await _serve(http, _plan(OPENAI_ROUTES))
    assert served.charge.micros == USAGE_COST_MICROS and not served.charge.estimated
    [row] = ledger.rows
    assert (row.status, row.attempt, row.route, row.images) == ("ok", 1, "a", 1)
    assert row.cost_micros == USAGE_COST_MICROS and row.provider_request_id == "req_up_1"
    assert http.sent[0].headers["authorization"] == "Bearer k"


async def test_a_retryable_error_is_retried_after_the_providers_hint_then_succeeds(sleeps):
    limited = Reply.json(429, {"error": {"message": "slow down", "type": "rate_limit"}}, retry_after_ms="7")
    http = ScriptedHttp({OPENAI_A: [limited, OK]})
    served, ledger = await _serve(http, _plan(OPENAI_ROUTES))
    assert sleeps == [0.007] and http.urls() == [OPENAI_A, OPENAI_A]
    assert [(row.attempt, row.status, row.error_code, row.cost_micros) for row in ledger.rows] == [
        (1, "error", "rate_limited", 0),
        (2, "ok", None, USAGE_COST_MICROS),
    ]
    assert served.attempt == 2


async def test_without_a_hint_the_wait_is_the_backoff(sleeps):
    broken = Reply.json(500, {"error": {"message": "oops", "type": "server_error"}})
    http = ScriptedHttp({OPENAI_A: [broken, OK]})
    await _serve(http, _plan(OPENAI_ROUTES, retry=RetryPolicy(base_delay_s=0.02, max_delay_s=0.02)))
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.02


async def test_an_exhausted_route_falls_back_to_the_next_one(sleeps):
    down = UpstreamUnavailable("connection refused")
    http = ScriptedHttp({OPENAI_A: [Reply(raises=down), Reply(raises=down)], OPENAI_B: [OK]})
    _, ledger = await _serve(http, _plan(OPENAI_ROUTES))
    assert http.urls() == [OPENAI_A, OPENAI_A, OPENAI_B]
    assert [(row.attempt, row.route, row.status, row.error_code) for row in ledger.rows] == [
        (1, "a", "error", "upstream_unavailable"),
        (2, "a", "error", "upstream_unavailable"),
        (3, "b", "ok", None),
    ]


async def test_the_clients_own_error_is_not_retried_nor_sent_elsewhere(sleeps):
    bad = Reply.json(400, {"error": {"message": "bad prompt", "type": "invalid_request_error", "param": "prompt"}})
    http = ScriptedHttp({OPENAI_A: [bad], OPENAI_B: [OK]})
    with pytest.raises(ProviderInvalidRequest):
        await _serve(http, _plan(OPENAI_ROUTES))
    assert http.urls() == [OPENAI_A] and sleeps == []


async def test_a_hint_beyond_the_deadline_is_not_waited_for(sleeps):
    limited = Reply.json(429, {"error": {"message": "slow down", "type": "rate_limit"}}, retry_after="120")
    http = ScriptedHttp({OPENAI_A: [limited], OPENAI_B: [limited]})
    retry = RetryPolicy(base_delay_s=0.01, max_delay_s=0.01, deadline_s=60)
    with pytest.raises(RateLimited):
        await _serve(http, _plan(OPENAI_ROUTES, retry=retry))
    assert sleeps == [] and http.urls() == [OPENAI_A, OPENAI_B]


async def test_fan_out_makes_one_call_and_one_row_per_part():
    gemini_ok = Reply.json(
        200,
        {
            "candidates": [
                {
                    "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "aGk="}}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1290, "totalTokenCount": 1293},
            "responseId": "resp_g",
        },
    )
    http = ScriptedHttp({GEMINI: [gemini_ok, gemini_ok, gemini_ok]})
    gemini = _target("g", "gemini", "gemini-2.5-flash-image", "https://g.example")
    served, ledger = await _serve(http, _plan([gemini], n=3))
    assert served.result.image_count == 3 and len(http.sent) == 3
    assert sorted(row.attempt for row in ledger.rows) == [1, 2, 3]
    assert {(row.status, row.images, row.provider_request_id) for row in ledger.rows} == {("ok", 1, "resp_g")}
    assert served.charge.micros == sum(row.cost_micros for row in ledger.rows) > 0
