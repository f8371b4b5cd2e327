"""Idempotency claims in a real Redis: atomic claims across clients, replay, release."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from imagegate.service.idempotency import IdempotentRunner, StoredResponse
from imagegate.store.redis_idempotency import RedisIdempotencyStore
from tests.store.redis_fixtures import REDIS_URL, unique_prefix

BODY = b"\x00" * 1_500_000  # image-sized, binary-safe


@pytest.fixture
async def prefix():
    async for name in unique_prefix("idem"):
        yield name


async def test_two_replicas_run_a_request_once(prefix):
    replicas = [RedisIdempotencyStore(aioredis.Redis.from_url(REDIS_URL), prefix=prefix) for _ in range(2)]
    runners = [IdempotentRunner(store, poll_s=0.01) for store in replicas]
    calls = 0

    async def produce():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return StoredResponse(200, (("x-request-id", "req_a"),), BODY, "application/json")

    results = await asyncio.gather(*[runners[i % 2].run("key1", "dup", "fp", produce) for i in range(6)])
    assert calls == 1
    assert all(response.body == BODY and response.headers == (("x-request-id", "req_a"),) for response, _ in results)
    assert sum(1 for _, replayed in results if not replayed) == 1
    conflict = await replicas[1].claim("key1:dup", "other-fp", "token", 60)
    assert conflict.kind == "conflict"


async def test_release_lets_a_retry_run(prefix):
    store = RedisIdempotencyStore(aioredis.Redis.from_url(REDIS_URL), prefix=prefix)
    assert (await store.claim("k", "fp", "owner", 60)).kind == "new"
    assert (await store.claim("k", "fp", "other", 60)).kind == "in_flight"
    await store.release("k", "other")  # not the owner: nothing happens
    assert (await store.peek("k")).kind == "in_flight"
    await store.release("k", "owner")
    assert (await store.peek("k")).kind == "new"
    assert (await store.claim("k", "fp", "other", 60)).kind == "new"
