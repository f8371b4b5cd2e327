"""A 200 with an unexpected shape: 502 upstream_bad_response in the client's dialect, every call recorded."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.fake_upstream import fake_upstream
from tests.support.gateway import running_gateway


@pytest.fixture
def odd(tmp_path):
    """A gateway whose one alias is served by a fake OpenAI answering whatever the test sets."""
    with fake_upstream() as upstream:
        route = {"provider": "openai", "model": "gpt-image-2", "base_url": upstream.url, "api_key": "k", "timeout": 10}
        document = {
            "models": [{"name": "odd", "retry": {"base_delay": 0.01}, "routes": [route]}],
            "breaker": {"consecutive_failures": 10_000, "failure_rate": 1.0, "min_calls": 10_000},
        }
        engine = migrated_sqlite_engine(tmp_path / "odd.db")
        with running_gateway(engine, document) as handle:
            yield handle, upstream
        engine.dispose()


def _assert_recorded_as_bad_responses(handle, upstream, request_id: str) -> None:
    rows = handle.ledger(request_id)
    assert len(rows) == upstream.calls == 2  # retried once, like any bad response; no call unrecorded
    for row in rows:
        assert (row.status, row.error_code, row.http_status) == ("error", "upstream_bad_response", 200)
        assert row.provider_request_id == "req_fake_upstream"
        # A 200 the provider answered: possibly billed, so the quote, flagged estimated.
        assert row.cost_estimated is True and row.cost_micros > 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"data":[{"b64_json":"aGk="}],"usage":{"input_tokens_details":"x"}}',
        b'{"data":[{"b64_json":"aGk="}],"usage":{"output_tokens":"many"}}',
        b'{"data":[1]}',
    ],
)
def test_openai_dialect_gets_a_502_and_every_call_is_recorded(odd, body):
    handle, upstream = odd
    upstream.body = body
    key = handle.create_key(f"odd-{uuid.uuid4().hex[:8]}")
    answer = httpx.post(
        handle.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "odd", "prompt": "x", "quality": "low"},
        timeout=10,
    )
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream_bad_response"
    _assert_recorded_as_bad_responses(handle, upstream, answer.headers["x-request-id"])


def test_translated_route_gets_a_google_502(odd):
    handle, upstream = odd
    upstream.body = b'{"data":[1]}'
    key = handle.create_key(f"odd-g-{uuid.uuid4().hex[:8]}")
    answer = httpx.post(
        handle.url + "/v1beta/models/odd:generateContent",
        headers={"x-goog-api-key": key},
        json={"contents": [{"parts": [{"text": "x"}]}]},
        timeout=10,
    )
    assert answer.status_code == 502
    assert answer.json()["error"]["status"] == "UNAVAILABLE"
    assert answer.json()["error"]["details"][0]["reason"] == "UPSTREAM_BAD_RESPONSE"
    _assert_recorded_as_bad_responses(handle, upstream, answer.headers["x-request-id"])
