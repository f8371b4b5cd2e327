"""Gemini ``generateContent`` bodies from a Gemini route stream through the gateway (docs/performance.md).

A body over the read-whole limit goes to the client as it arrives, byte for byte, with the
gateway's ``imagegate`` cost object added before its closing brace; every way it can end is
recorded in the ledger. The official ``google-genai`` SDK is the client, on the Gemini API's paths
and on Vertex AI's.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import httpx2
import orjson
import pytest
from google import genai
from google.genai import types

from imagegate.domain.money import usd_string
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway
from tests.support.streaming_upstream import BrokeOff, streaming_upstream

USAGE = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 2520,
    "totalTokenCount": 2532,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 2520}],
}
# gemini-3.1-flash-image in the catalog: $0.50/1M text in, $60/1M image out.
COST_MICROS = 12 * 5 // 10 + 2520 * 60
BLOCK_USAGE = {
    "promptTokenCount": 9,
    "totalTokenCount": 9,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
}


def generate_content_response(image_bytes: int) -> bytes:
    """A ``GenerateContentResponse`` as Google lays it out: the image's base64 first, usage last."""
    b64 = base64.b64encode(os.urandom(image_bytes)).decode()
    body = {
        "candidates": [
            {
                "content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": b64}}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-3.1-flash-image",
        "responseId": "resp-passthrough-1",
    }
    return orjson.dumps(body)


def blocked_response(kind: str) -> bytes:
    """An answer without an image: the prompt blocked, or the image withheld (``finishReason``)."""
    body: dict = {"usageMetadata": BLOCK_USAGE, "modelVersion": "gemini-3.1-flash-image", "responseId": "resp-blocked"}
    if kind == "prompt":
        body["promptFeedback"] = {"blockReason": "SAFETY"}
    else:
        # Text padding ahead of the verdict: only the end of the body says there is no image.
        text = "x" * (100 * 1024)
        body["candidates"] = [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "IMAGE_SAFETY", "index": 0}
        ]
    return orjson.dumps(body)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One gateway in front of one streaming fake Gemini API for the module."""
    with streaming_upstream() as upstream:
        route = {
            "provider": "gemini",
            "model": "gemini-3.1-flash-image",
            "base_url": upstream.url,
            "api_key": "k",
            "timeout": 30,
        }
        document = {"models": [{"name": "nano-banana-2", "routes": [route]}]}
        engine = migrated_sqlite_engine(tmp_path_factory.mktemp("gemini-passthrough") / "passthrough.db")
        with running_gateway(engine, document) as handle:
            yield handle, upstream
        engine.dispose()


@pytest.fixture
def passthrough(served):
    """The module's gateway, its fake Gemini reset to a plain answer with no calls counted."""
    handle, upstream = served
    upstream.release.set()  # a stall left by an earlier test ends
    upstream.release = threading.Event()
    upstream.declare_length, upstream.stall_after, upstream.break_after, upstream.calls = True, None, None, 0
    return handle, upstream


def _client(handle, *, vertex: bool = False) -> genai.Client:
    key = handle.create_key(f"gpt-{uuid.uuid4().hex[:8]}")
    options = types.HttpOptions(base_url=handle.url, retry_options=types.HttpRetryOptions(attempts=1))
    if vertex:
        return genai.Client(vertexai=True, api_key=key, http_options=options)  # Vertex AI express mode
    return genai.Client(api_key=key, http_options=options)


def _rows_when_recorded(handle, request_id: str) -> list:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = handle.ledger(request_id)
        if rows:
            return rows
        time.sleep(0.02)
    raise AssertionError(f"no ledger row for {request_id}")


@pytest.mark.parametrize("vertex", [False, True], ids=["gemini-api", "vertex-express"])
def test_a_large_body_passes_through_unchanged_with_its_exact_cost_at_the_end(passthrough, vertex):
    handle, upstream = passthrough
    upstream.body = generate_content_response(3 * 1024 * 1024)
    client = _client(handle, vertex=vertex)
    # The SDK parses the body as usual (it drops fields it does not know, ``imagegate`` among them).
    response = client.models.generate_content(model="nano-banana-2", contents="a lighthouse at dusk")
    [row] = handle.ledger(response.sdk_http_response.headers["x-request-id"])
    assert (row.status, row.images, row.http_status, row.usage) == ("ok", 1, 200, USAGE)
    assert row.cost_micros == COST_MICROS and not row.cost_estimated
    assert row.provider_request_id == response.response_id == "resp-passthrough-1"
    sent = orjson.loads(upstream.body)["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    assert response.parts[0].inline_data.data == base64.b64decode(sent)
    assert response.usage_metadata.candidates_token_count == USAGE["candidatesTokenCount"]
    assert "x-imagegate-cost-usd" not in response.sdk_http_response.headers
    # The raw body: the provider's bytes, then the cost object before the closing brace.
    raw = client.models.generate_content(
        model="nano-banana-2",
        contents="a lighthouse at dusk",
        config=types.GenerateContentConfig(should_return_http_response=True),
    )
    cost = orjson.dumps({"cost_usd": usd_string(COST_MICROS), "cost_estimated": False})
    assert raw.sdk_http_response.body.encode() == upstream.body[:-1] + b',"imagegate":' + cost + b"}"
    assert upstream.calls == 2
    client.close()


def test_a_small_body_is_read_whole_and_its_cost_is_a_header(passthrough):
    handle, upstream = passthrough
    upstream.body = generate_content_response(64 * 1024)  # declared, under the 256 KiB threshold
    client = _client(handle)
    raw = client.models.generate_content(
        model="nano-banana-2", contents="a fox", config=types.GenerateContentConfig(should_return_http_response=True)
    )
    assert raw.sdk_http_response.body.encode() == upstream.body  # no cost object in the body
    [row] = handle.ledger(raw.sdk_http_response.headers["x-request-id"])
    assert row.cost_micros == COST_MICROS
    assert raw.sdk_http_response.headers["x-imagegate-cost-usd"] == usd_string(COST_MICROS)
    client.close()


@pytest.mark.parametrize("kind", ["prompt", "output"])
def test_a_block_known_only_at_the_end_goes_as_google_sent_it_and_is_recorded_as_moderation(passthrough, kind):
    handle, upstream = passthrough
    upstream.body = blocked_response(kind)
    upstream.declare_length = False  # chunked: the gateway cannot read it whole first
    client = _client(handle)
    raw = client.models.generate_content(
        model="nano-banana-2", contents="x", config=types.GenerateContentConfig(should_return_http_response=True)
    )
    assert raw.sdk_http_response.body.encode() == upstream.body  # no cost object on a blocked answer
    [row] = handle.ledger(raw.sdk_http_response.headers["x-request-id"])
    assert (row.status, row.error_code, row.images, row.http_status) == ("error", "moderation_blocked", 0, 200)
    assert row.usage == BLOCK_USAGE and row.cost_micros > 0  # Google bills the prompt of a blocked answer
    # Recorded as the same answer read whole (its length declared and small) is.
    upstream.declare_length = True
    whole = client.models.generate_content(
        model="nano-banana-2", contents="x", config=types.GenerateContentConfig(should_return_http_response=True)
    )
    assert whole.sdk_http_response.body.encode() == upstream.body
    [buffered] = handle.ledger(whole.sdk_http_response.headers["x-request-id"])
    assert (buffered.error_code, buffered.usage, buffered.cost_micros, buffered.cost_estimated) == (
        row.error_code,
        row.usage,
        row.cost_micros,
        row.cost_estimated,
    )
    parsed = client.models.generate_content(model="nano-banana-2", contents="x")
    if kind == "prompt":
        assert parsed.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    else:
        assert parsed.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY
    client.close()


def test_the_client_leaving_mid_body_is_recorded_at_the_exact_cost_once_the_body_is_drained(passthrough):
    handle, upstream = passthrough
    upstream.body = generate_content_response(2 * 1024 * 1024)
    upstream.stall_after = 512 * 1024
    key = handle.create_key(f"gpt-{uuid.uuid4().hex[:8]}")
    url = handle.url + "/v1beta/models/nano-banana-2:generateContent"
    body = {"contents": [{"parts": [{"text": "a fox"}]}]}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", url, json=body, headers={"x-goog-api-key": key}) as answer,
    ):
        request_id = answer.headers["x-request-id"]
        received = 0
        for piece in answer.iter_raw():
            received += len(piece)
            if received >= 256 * 1024:
                break  # leaving the block closes the connection mid-body
    drains = handle.runtime.gateway.images.drains
    deadline = time.monotonic() + 10
    while drains.running == 0:
        assert time.monotonic() < deadline, "the drain did not start"
        time.sleep(0.02)
    assert handle.ledger(request_id) == []  # the usageMetadata is still to come
    upstream.release.set()
    [row] = _rows_when_recorded(handle, request_id)
    assert (row.status, row.error_code, row.client_disconnected, row.http_status) == (
        "error",
        "client_disconnected",
        True,
        200,
    )
    # Google did the work; the usageMetadata read from the rest of the body prices it exactly.
    assert (row.cost_micros, row.cost_estimated, row.usage) == (COST_MICROS, False, USAGE)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[_Records]:
    """What the server (uvicorn) logs during the test."""
    records = _Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(records)
    try:
        yield records
    finally:
        logger.removeHandler(records)


def test_a_body_breaking_off_is_recorded_and_logged_as_one_warning_line(passthrough, server_log):
    handle, upstream = passthrough
    upstream.body = generate_content_response(2 * 1024 * 1024)
    upstream.break_after = 1024 * 1024
    name = f"gpt-break-{uuid.uuid4().hex[:8]}"
    client = genai.Client(
        api_key=handle.create_key(name),
        http_options=types.HttpOptions(base_url=handle.url, retry_options=types.HttpRetryOptions(attempts=1)),
    )
    with pytest.raises((httpx.TransportError, httpx2.TransportError)):
        client.models.generate_content(model="nano-banana-2", contents="a fox")
    [row] = [row for row in handle.ledger() if row.key_name == name]
    assert (row.status, row.error_code, row.http_status) == ("error", "upstream_bad_response", 200)
    assert row.cost_estimated and row.cost_micros > 0  # a 200 that broke off: possibly billed, the quote
    assert upstream.calls == 1  # after the first byte there is no retry

    def gateway_records() -> list[logging.LogRecord]:
        # The fake provider's own server logs its break-off to the same logger: left out.
        return [r for r in server_log.records if not (r.exc_info is not None and isinstance(r.exc_info[1], BrokeOff))]

    deadline = time.monotonic() + 10
    while not gateway_records() and time.monotonic() < deadline:
        time.sleep(0.02)
    [record] = gateway_records()
    assert (record.levelno, record.exc_info) == (logging.WARNING, None)
    assert "broke off" in record.getMessage() and row.request_id in record.getMessage()
    client.close()
