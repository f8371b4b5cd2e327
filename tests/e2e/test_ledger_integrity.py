"""The ledger's promises: every attempt recorded (also when the client leaves), no base64, no secrets."""

from __future__ import annotations

import logging
import time
import uuid

import httpx
import pytest
from openai import OpenAI

ROUTE_SECRET = "sk-route-secret-4d2f"


def _wait_for_rows(gateway, predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = [row for row in gateway.ledger() if predicate(row)]
        if rows:
            return rows
        time.sleep(0.05)
    raise AssertionError("no matching ledger row appeared")


def test_client_that_leaves_a_plain_request_still_gets_the_attempt_recorded(gateway):
    key = gateway.create_key(f"leaver-{uuid.uuid4().hex[:8]}")
    marker = uuid.uuid4().hex
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateway.url + "/v1/images/generations",
            timeout=0.3,
            headers={"authorization": f"Bearer {key}"},
            json={"model": "gpt-image-2", "prompt": f"[sandbox:slow=1] {marker}", "quality": "low"},
        )
    [row] = _wait_for_rows(gateway, lambda row: row.key_name is not None and row.key_name.startswith("leaver-"))
    assert row.status == "ok" and row.images == 1 and row.cost_micros > 0
    assert row.latency_ms >= 1000


def test_client_that_leaves_a_stream_gets_a_disconnected_row_priced_at_the_quote(gateway):
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
    # Nothing was delivered, but the provider may bill: the upper-bound quote is recorded, flagged estimated.
    assert row.cost_estimated is True and row.cost_micros > 0


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
