"""Two gateway replicas over one database and one Redis: breakers and idempotency are shared."""

from __future__ import annotations

import os
import uuid

import httpx
import redis

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway

REDIS_URL = os.environ.get("IMAGEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _document(sandbox_url: str, alias: str) -> dict:
    route = {"api_key": "k", "timeout": 10}
    return {
        "models": [
            {
                "name": alias,
                "retry": {"max_attempts_per_route": 1},
                "routes": [
                    {"provider": "openai", "model": "gpt-image-2", "base_url": sandbox_url + "/v1", **route},
                    {"provider": "gemini", "model": "gemini-2.5-flash-image", "base_url": sandbox_url, **route},
                ],
            }
        ],
        "breaker": {"consecutive_failures": 2, "cooldown": 60},
    }


def test_a_breaker_opened_on_one_replica_is_open_on_the_other(sandbox_url, sandbox_control, tmp_path):
    alias = f"shared-{uuid.uuid4().hex[:8]}"  # route names, hence Redis keys, unique to this test
    engine = migrated_sqlite_engine(tmp_path / "replicas.db")
    document = _document(sandbox_url, alias)
    with (
        running_gateway(engine, document, redis_url=REDIS_URL) as first,
        running_gateway(engine, document, redis_url=REDIS_URL) as second,
    ):
        key = first.create_key("replicas")
        headers = {"authorization": f"Bearer {key}"}
        sandbox_control.post("/_sandbox/faults", json={"fault": "500", "count": 2, "model": "gpt-image-2"})
        for _ in range(2):  # two failures on the OpenAI route, each falling back to Gemini
            assert (
                httpx.post(
                    first.url + "/v1/images/generations",
                    headers=headers,
                    timeout=30,
                    json={"model": alias, "prompt": "x"},
                ).status_code
                == 200
            )
        sandbox_control.delete("/_sandbox/requests")
        served = httpx.post(
            second.url + "/v1/images/generations", headers=headers, timeout=30, json={"model": alias, "prompt": "y"}
        )
        assert served.status_code == 200
        assert served.headers["x-imagegate-route"] == f"{alias}/gemini/gemini-2.5-flash-image"
        assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1  # OpenAI not called at all

        idempotency = {**headers, "idempotency-key": uuid.uuid4().hex}
        once = httpx.post(
            first.url + "/v1/images/generations", headers=idempotency, timeout=30, json={"model": alias, "prompt": "z"}
        )
        again = httpx.post(
            second.url + "/v1/images/generations", headers=idempotency, timeout=30, json={"model": alias, "prompt": "z"}
        )
        assert again.headers["idempotent-replayed"] == "true" and again.content == once.content
    engine.dispose()
    client = redis.Redis.from_url(REDIS_URL)
    stale = [
        *client.scan_iter(match=f"imagegate:breaker:{alias}/*"),
        *client.scan_iter(match=f"imagegate:idem:*:{idempotency['idempotency-key']}"),
    ]
    assert len(stale) >= 2  # the shared state really lived in Redis
    client.delete(*stale)
