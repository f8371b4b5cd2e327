"""The batch API of a running gateway (``/v1/imagegate/batches``) over the sandbox's OpenAI Batch API."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest

from imagegate.domain.money import usd_string
from imagegate.store.batches import SqlBatchStore
from tests.sandbox.helpers import encoded_image
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config

MASTER = "mk-batches-e2e"


def _file(prompts: list[str]) -> bytes:
    return "".join(
        json.dumps({"custom_id": f"c{i}", "prompt": p, "quality": "low"}) + "\n" for i, p in enumerate(prompts)
    ).encode()


@pytest.fixture(scope="module")
def gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """A gateway whose batches move only when asked (no background poller), so each read is the test's."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("batches") / "imagegate.db")
    with running_gateway(
        engine, sandbox_models_config(sandbox_url, ["gpt-image-2"]), batch_poll_interval_s=None, master_key=MASTER
    ) as handle:
        yield handle
    engine.dispose()


def test_submit_poll_results_and_ledger_rows_under_the_submitting_key(gateway):
    secret = gateway.create_key("batch-api")
    other = gateway.create_key("someone-else")
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {secret}"}, timeout=30) as client:
        created = client.post(
            "/v1/imagegate/batches?model=gpt-image-2", content=_file(["a", "b [sandbox:moderation]", "c"])
        )
        assert created.status_code == 200, created.text
        batch = created.json()
        assert (batch["state"], batch["requests"], batch["provider"]) == ("running", 3, "openai")
        path = f"/v1/imagegate/batches/{batch['id']}"

        early = client.get(path + "/results")
        assert early.status_code == 400 and "still running" in early.json()["error"]["message"]
        hidden = httpx.get(gateway.url + path, headers={"authorization": f"Bearer {other}"})
        assert hidden.status_code == 404  # another key's batch is as good as missing

        final = client.get(path).json()
        assert (final["state"], final["succeeded"], final["failed"]) == ("completed", 2, 1)
        results = client.get(path + "/results").json()["data"]
        assert [(item["custom_id"], item["status"]) for item in results] == [
            ("c0", "ok"),
            ("c1", "error"),
            ("c2", "ok"),
        ]
        stored = results[0]["images"][0]  # the gateway has image storage: a signed, expiring link
        assert stored["mime_type"] == "image/png" and stored["expires_at"] > 0
        assert client.get(stored["url"]).content[:4] == b"\x89PNG"  # a gateway-relative link (no public URL set)
        assert results[1]["error"] == "moderation_blocked" and results[1]["images"] == []

    rows = [row for row in gateway.ledger() if row.request_id.startswith(batch["id"] + ":")]
    assert len(rows) == 3 and {row.key_name for row in rows} == {"batch-api"}
    assert final["cost_usd"] == usd_string(sum(row.cost_micros for row in rows))


def test_bad_input_is_a_400_naming_the_parameter(gateway):
    secret = gateway.create_key("batch-bad")
    headers = {"authorization": f"Bearer {secret}"}
    missing = httpx.post(gateway.url + "/v1/imagegate/batches", content=_file(["a"]), headers=headers)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
    bad = httpx.post(
        gateway.url + "/v1/imagegate/batches?model=gpt-image-2",
        content=b'{"prompt": "a", "n": "two"}\n',
        headers=headers,
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "n" and "line 1" in bad.json()["error"]["message"]
    unknown = httpx.get(gateway.url + "/v1/imagegate/batches/batch_nope", headers=headers)
    assert unknown.status_code == 404
    anonymous = httpx.get(gateway.url + "/v1/imagegate/batches/batch_nope")
    assert anonymous.status_code == 401


def test_the_gateway_polls_unsettled_batches_to_the_end_by_itself(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "poller.db")
    config = sandbox_models_config(sandbox_url, ["gpt-image-2"])
    try:
        with running_gateway(engine, config, batch_poll_interval_s=0.05) as handle:
            secret = handle.create_key("batch-poller")
            created = httpx.post(
                handle.url + "/v1/imagegate/batches?model=gpt-image-2",
                content=_file(["a", "b"]),
                headers={"authorization": f"Bearer {secret}"},
            )
            assert created.status_code == 200, created.text
            store = SqlBatchStore(engine)
            deadline = time.monotonic() + 30
            while not _settled(store, created.json()["id"]):
                assert time.monotonic() < deadline, "the background poller never settled the batch"
                time.sleep(0.05)
            record = store.get_batch(created.json()["id"])
            assert record is not None and (record.state, record.succeeded) == ("completed", 2)
            assert len([row for row in handle.ledger() if row.request_id.startswith(record.id + ":")]) == 2
    finally:
        engine.dispose()


def _settled(store: SqlBatchStore, batch_id: str) -> bool:
    record = store.get_batch(batch_id)
    return record is not None and record.settled


def test_an_edit_batch_over_http_with_its_input_image_billed(gateway):
    secret = gateway.create_key("batch-edits")
    image = "data:image/png;base64," + base64.b64encode(encoded_image(1024, 1024)).decode()
    lines = [{"custom_id": f"e{i}", "prompt": f"add a hat {i}", "images": [{"image_url": image}]} for i in range(2)]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {secret}"}, timeout=30) as client:
        remote = dict(lines[0], images=[{"image_url": "https://example.com/a.png"}])
        refused = client.post("/v1/imagegate/batches?model=gpt-image-2", content=json.dumps(remote).encode())
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "images[0].image_url"
        assert "line 1" in refused.json()["error"]["message"]

        created = client.post("/v1/imagegate/batches?model=gpt-image-2", content=body)
        assert created.status_code == 200, created.text
        path = f"/v1/imagegate/batches/{created.json()['id']}"
        assert client.get(path).json()["state"] == "running"  # the sandbox completes on the second read
        final = client.get(path).json()
        assert (final["state"], final["succeeded"], final["failed"]) == ("completed", 2, 0)
        results = client.get(path + "/results").json()["data"]
        assert [(item["custom_id"], item["status"], len(item["images"])) for item in results] == [
            ("e0", "ok", 1),
            ("e1", "ok", 1),
        ]
    rows = [row for row in gateway.ledger() if row.request_id.startswith(final["id"] + ":")]
    assert {row.operation for row in rows} == {"edit"}
    for row in rows:
        details = row.usage["input_tokens_details"]
        assert details["image_tokens"] > 0
        # gpt-image-2 per 1M tokens: text in $5, image in $8, image out $30; the batch tier halves it.
        per_million = details["text_tokens"] * 5 + details["image_tokens"] * 8 + row.usage["output_tokens"] * 30
        assert row.cost_micros == int((Decimal(per_million) / 2).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert final["cost_usd"] == usd_string(sum(row.cost_micros for row in rows))


def test_the_master_key_sees_every_batch_but_cannot_submit(gateway):
    secret = gateway.create_key("batch-owner")
    created = httpx.post(
        gateway.url + "/v1/imagegate/batches?model=gpt-image-2",
        content=_file(["a"]),
        headers={"authorization": f"Bearer {secret}"},
    )
    assert created.status_code == 200, created.text
    master = {"authorization": f"Bearer {MASTER}"}
    seen = httpx.get(gateway.url + f"/v1/imagegate/batches/{created.json()['id']}", headers=master)
    assert seen.status_code == 200 and seen.json()["id"] == created.json()["id"]
    refused = httpx.post(gateway.url + "/v1/imagegate/batches?model=gpt-image-2", content=_file(["a"]), headers=master)
    assert refused.status_code == 400 and "client key" in refused.json()["error"]["message"]
