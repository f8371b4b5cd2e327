"""The ledger's promises: every attempt recorded (also when the client leaves), no base64, no secrets."""

from __future__ import annotations

import logging
import socket
import struct
import time
import uuid
from decimal import Decimal

import httpx
import orjson
import pytest
from openai import OpenAI

from tests.support.raw_client import leave_after

ROUTE_SECRET = "sk-route-secret-4d2f"


def _wait_for_rows(gateway, predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = [row for row in gateway.ledger() if predicate(row)]
        if rows:
            return rows
        time.sleep(0.05)
    raise AssertionError("no matching ledger row appeared")


@pytest.mark.parametrize("dialect", ["openai", "gemini"])
def test_client_that_leaves_a_plain_request_stops_the_work_and_the_row_says_so(gateway, sandbox_control, dialect):
    name = f"leaver-{dialect}-{uuid.uuid4().hex[:8]}"
    key = gateway.create_key(name)
    sandbox_control.delete("/_sandbox/requests")
    # A slow answer on a route that would retry a timeout: the client hangs up at 0.5 s.
    prompt = f"[sandbox:slow=3] {uuid.uuid4().hex}"
    if dialect == "openai":
        path, headers = "/v1/images/generations", {"authorization": f"Bearer {key}"}
        body = {"model": "gpt-image-2", "prompt": prompt, "quality": "low"}
    else:
        path, headers = "/v1beta/models/gpt-image-2:generateContent", {"x-goog-api-key": key}
        body = {"contents": [{"parts": [{"text": prompt}]}]}
    leave_after(gateway.url, path, headers, orjson.dumps(body), 0.5)
    [row] = _wait_for_rows(gateway, lambda row: row.key_name == name)
    assert row.client_disconnected is True and row.error_code == "client_disconnected"
    assert row.status == "error" and row.latency_ms < 2000  # cancelled, not waited out
    # Cut short mid-call: possibly billed, so the quote, flagged estimated.
    assert row.cost_estimated is True and row.cost_micros > 0
    time.sleep(0.3)
    assert gateway.ledger(row.request_id) == [row]
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1


def test_a_reset_during_upload_is_one_log_line(gateway, caplog):
    caplog.set_level(logging.INFO)
    key = gateway.create_key(f"upload-{uuid.uuid4().hex[:8]}")
    host, port = gateway.url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/images/generations HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {key}\r\n"
        "content-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + b'{"model": "gpt-image-2", "prompt": "')
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("during upload" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    lines = [record for record in caplog.records if "during upload" in record.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert not any(record.exc_info is not None for record in caplog.records)


def test_client_that_leaves_a_stream_gets_a_disconnected_row_priced_from_the_drained_usage(gateway):
    name = f"stream-leaver-{uuid.uuid4().hex[:8]}"
    key = gateway.create_key(name)
    with (
        httpx.Client(timeout=5) as client,
        client.stream(
            "POST",
            gateway.url + "/v1/images/generations",
            headers={"authorization": f"Bearer {key}"},
            json={
                "model": "gpt-image-2",
                "prompt": "[sandbox:slow=0.5] x",
                "stream": True,
                "partial_images": 3,
                "size": "1024x1024",
                "quality": "high",
            },
        ) as response,
    ):
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        # Leave before the first frame arrives.
    rows = _wait_for_rows(gateway, lambda row: row.request_id == request_id)
    [row] = rows
    assert row.client_disconnected is True and row.stream is True
    assert row.status == "error" and row.error_code == "client_disconnected"
    # Nothing was delivered, but the provider finished and bills: the rest of the stream was read
    # (not forwarded) and its usage prices the row exactly.
    assert row.cost_estimated is False and row.images == 1
    usage = row.usage
    details = usage["input_tokens_details"]
    # gpt-image-2: $5/1M text in, $8/1M image in, $30/1M image out (the catalog's published rates).
    expected = Decimal(details["text_tokens"]) * 5 + Decimal(details["image_tokens"]) * 8 + usage["output_tokens"] * 30
    assert usage["output_tokens"] > 0 and row.cost_micros == int(expected)


def test_no_base64_or_credentials_in_database_or_logs(gateway, caplog):
    caplog.set_level(logging.DEBUG)
    key = gateway.create_key(f"b64-{uuid.uuid4().hex[:8]}")
    client = OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    result = client.images.generate(model="gpt-image-1.5", prompt="a red square", size="1024x1024", quality="low")
    streamed = list(client.images.generate(model="gpt-image-2", prompt="x", stream=True, partial_images=1))
    gateway.ledger()  # waits for the writer
    fragments = [result.data[0].b64_json[1000:1064], streamed[-1].b64_json[1000:1064]]
    database = gateway.engine.url.database
    blob = b""
    for suffix in ("", "-wal"):
        try:
            with open(database + suffix, "rb") as handle:
                blob += handle.read()
        except FileNotFoundError:
            pass
    assert len(blob) > 0
    for fragment in fragments:
        assert fragment.encode() not in blob
    assert ROUTE_SECRET.encode() not in blob
    assert key.encode() not in blob
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert all(fragment not in logged for fragment in fragments)
    assert ROUTE_SECRET not in logged and key not in logged


def test_last_used_at_is_recorded_off_the_hot_path(sandbox_url, tmp_path):
    from imagegate.store.keys import SqlKeyStore
    from tests.store.fixtures import migrated_sqlite_engine
    from tests.support.gateway import running_gateway, sandbox_models_config

    engine = migrated_sqlite_engine(tmp_path / "lu.db")
    with running_gateway(engine, sandbox_models_config(sandbox_url, ["gpt-image-2"])) as handle:
        used, _unused = handle.create_key("used"), handle.create_key("unused")
        OpenAI(base_url=handle.url + "/v1", api_key=used, max_retries=0).models.list()
    # Shutting down flushes the batched last-used times.
    records = {record.name: record for record in SqlKeyStore(engine).list_keys()}
    assert records["used"].last_used_at is not None
    assert records["unused"].last_used_at is None
    engine.dispose()
