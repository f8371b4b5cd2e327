"""The batch API of a running gateway (``/v1/imagegate/batches``) over the sandbox's OpenAI Batch API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from imagegate.domain.money import usd_string
from imagegate.store.batches import SqlBatchStore
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config


def _file(prompts: list[str]) -> bytes:
    return "".join(
        json.dumps({"custom_id": f"c{i}", "prompt": p, "quality": "low"}) + "\n" for i, p in enumerate(prompts)
    ).encode()


@pytest.fixture(scope="module")
def gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """A gateway whose batches move only when asked (no background poller), so each read is the test's."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("batches") / "imagegate.db")
    with running_gateway(
        engine, sandbox_models_config(sandbox_url, ["gpt-image-2"]), batch_poll_interval_s=None
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
