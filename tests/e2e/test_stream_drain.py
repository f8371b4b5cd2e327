"""A client leaving an OpenAI Images ``stream: true`` answer mid-stream (docs/reliability.md).

The provider finishes and bills the image; its usage is in the last event. The gateway reads the
rest of the stream after the client left and prices the row from that usage, or records the quote
when the server stops first. The fake OpenAI stalls after the first partial image, so the client
leaves mid-stream for certain and the drain is seen running.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
import uuid
from decimal import Decimal

import httpx
import orjson
import pytest

from imagegate.store.ledger import SqlLedgerStore
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway
from tests.support.streaming_upstream import streaming_upstream

USAGE = {
    "input_tokens": 17,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 17},
    "output_tokens": 1256,
    "output_tokens_details": {"image_tokens": 1256, "text_tokens": 0},
    "total_tokens": 1273,
}
# gpt-image-2: $5/1M text in, $8/1M image in, $30/1M image out (the catalog's published rates).
COST_MICROS = int(Decimal(17) * 5 + Decimal(0) * 8 + 1256 * 30)


def _frame(kind: str, payload: dict) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"


def _stream() -> tuple[bytes, int]:
    """A partial image then the completed image with its usage; and where the partial ends."""
    common = {"background": "opaque", "output_format": "png", "quality": "low", "size": "1024x1024"}
    partial = _frame(
        "image_generation.partial_image",
        {"b64_json": base64.b64encode(os.urandom(30_000)).decode(), "partial_image_index": 0, **common},
    )
    completed = _frame(
        "image_generation.completed",
        {"b64_json": base64.b64encode(os.urandom(60_000)).decode(), "usage": USAGE, **common},
    )
    return partial + completed, len(partial)


@pytest.fixture
def stalled(tmp_path):
    """A gateway of its own (the test may stop it) before a fake OpenAI that stalls mid-stream."""
    with streaming_upstream() as upstream:
        upstream.content_type = b"text/event-stream"
        upstream.declare_length = False
        upstream.body, upstream.stall_after = _stream()
        route = {"provider": "openai", "model": "gpt-image-2", "base_url": upstream.url, "api_key": "k", "timeout": 30}
        engine = migrated_sqlite_engine(tmp_path / "stream-drain.db")
        with contextlib.ExitStack() as stack:
            handle = stack.enter_context(
                running_gateway(engine, {"models": [{"name": "gpt-image-2", "routes": [route]}]})
            )
            yield handle, upstream, stack
        engine.dispose()


def _leave_after_the_first_frame(handle) -> str:
    key = handle.create_key(f"sse-{uuid.uuid4().hex[:8]}")
    body = {"model": "gpt-image-2", "prompt": "a fox", "stream": True, "partial_images": 1, "quality": "low"}
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", handle.url + "/v1/images/generations", json=body, headers={"authorization": f"Bearer {key}"}
        ) as answer,
    ):
        assert answer.status_code == 200
        received = b""
        for piece in answer.iter_raw():
            received += piece
            if b"\n\n" in received:
                break  # the partial image arrived; leaving closes the connection mid-stream
        return answer.headers["x-request-id"]


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_client_leaving_mid_stream_is_recorded_at_the_exact_cost_of_the_drained_usage(stalled):
    handle, upstream, _ = stalled
    request_id = _leave_after_the_first_frame(handle)
    drains = handle.runtime.gateway.images.drains
    _until(lambda: drains.running == 1, "the drain to start")
    assert handle.ledger(request_id) == []  # the usage is still to come
    upstream.release.set()
    _until(lambda: handle.ledger(request_id) != [], "the row")
    [row] = handle.ledger(request_id)
    assert (row.status, row.error_code, row.client_disconnected, row.stream) == (
        "error",
        "client_disconnected",
        True,
        True,
    )
    assert (row.cost_micros, row.cost_estimated, row.usage, row.images) == (COST_MICROS, False, USAGE, 1)


def test_a_stream_drain_cut_short_by_the_server_stopping_is_recorded_at_the_quote(stalled):
    handle, _, stack = stalled
    request_id = _leave_after_the_first_frame(handle)
    _until(lambda: handle.runtime.gateway.images.drains.running == 1, "the drain to start")
    stack.close()  # the server stops while the provider stalls mid-stream
    [row] = SqlLedgerStore(handle.engine).query_entries(request_id=request_id, limit=10)
    assert (row.error_code, row.client_disconnected, row.stream) == ("client_disconnected", True, True)
    assert row.cost_estimated and 0 < row.cost_micros != COST_MICROS and row.usage == {}
