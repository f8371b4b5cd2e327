"""One cost rule per attempt outcome (docs/pricing.md, "What a failed attempt costs"), end to end."""

from __future__ import annotations

import uuid

import httpx

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import free_port, running_gateway


def _post(gateway, key: str, prompt: str, **fields) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-image-2", "prompt": prompt, "quality": "low", **fields},
        timeout=20,
    )


def test_a_truncated_200_is_possibly_billed_and_keeps_status_and_request_id(gateway):
    key = gateway.create_key(f"cut-{uuid.uuid4().hex[:8]}")
    answer = _post(gateway, key, "[sandbox:truncated] x")
    assert answer.status_code == 502
    rows = gateway.ledger(answer.headers["x-request-id"])
    assert rows and all(row.error_code == "upstream_bad_response" for row in rows)
    for row in rows:
        assert row.http_status == 200 and row.provider_request_id is not None
        assert row.cost_estimated is True and row.cost_micros > 0


def test_an_error_answer_is_not_billed(gateway):
    key = gateway.create_key(f"err-{uuid.uuid4().hex[:8]}")
    answer = _post(gateway, key, "[sandbox:500] x")
    rows = gateway.ledger(answer.headers["x-request-id"])
    assert rows and all((row.http_status, row.cost_micros, row.cost_estimated) == (500, 0, False) for row in rows)


def test_a_streamed_row_carries_the_providers_request_id(gateway):
    key = gateway.create_key(f"sid-{uuid.uuid4().hex[:8]}")
    with httpx.stream(
        "POST",
        gateway.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-image-2", "prompt": "x", "quality": "low", "stream": True},
        timeout=20,
    ) as response:
        response.read()
    [row] = gateway.ledger(response.headers["x-request-id"])
    assert row.stream is True and row.status == "ok" and row.provider_request_id is not None


def test_an_unreachable_provider_is_not_billed(tmp_path):
    route = {
        "provider": "openai",
        "model": "gpt-image-2",
        "base_url": f"http://127.0.0.1:{free_port()}/v1",
        "api_key": "k",
        "timeout": 5,
    }
    document = {"models": [{"name": "gpt-image-2", "retry": {"base_delay": 0.01}, "routes": [route]}]}
    engine = migrated_sqlite_engine(tmp_path / "refused.db")
    with running_gateway(engine, document) as handle:
        answer = _post(handle, handle.create_key("refused"), "x")
        rows = handle.ledger(answer.headers["x-request-id"])
    engine.dispose()
    assert answer.status_code == 502
    assert rows and all(
        (row.error_code, row.cost_micros, row.cost_estimated) == ("upstream_unavailable", 0, False) for row in rows
    )


def test_a_gemini_streamed_row_carries_the_response_id_from_the_stream(google_gateway, google_key):
    with httpx.stream(
        "POST",
        google_gateway.url + "/v1beta/models/gemini-2.5-flash-image:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": google_key},
        json={"contents": [{"parts": [{"text": "a lighthouse"}]}]},
        timeout=20,
    ) as response:
        body = response.read()
    [row] = google_gateway.ledger(response.headers["x-request-id"])
    assert row.stream is True and row.status == "ok"
    assert row.provider_request_id is not None and f'"responseId":"{row.provider_request_id}"'.encode() in body.replace(
        b" ", b""
    )
