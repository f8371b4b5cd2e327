"""The idempotency store contract, on the in-process store and on a real Redis; the request fingerprint."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from imagegate.accounting.idempotency import (
    ENTRY_OVERHEAD_BYTES,
    IdempotencyLimits,
    IdempotencyStore,
    LocalIdempotencyStore,
    StoredResponse,
    request_fingerprint,
)
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.store.redis_idempotency import RedisIdempotencyStore
from tests.store.redis_fixtures import REDIS_URL, unique_prefix

LIMITS = IdempotencyLimits(max_total_bytes=1_000_000, max_entry_bytes=300_000, max_entries=1000)


def response(body: bytes, status: int = 200, request_id: str = "req_1") -> StoredResponse:
    return StoredResponse(status, (("x-request-id", request_id),), body, "application/json")


async def stored_bytes(store: IdempotencyStore) -> int:
    if isinstance(store, LocalIdempotencyStore):
        return store.total_bytes
    assert isinstance(store, RedisIdempotencyStore)
    return await store.stored_bytes()


@pytest.fixture(params=["local", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IdempotencyStore]:
    if request.param == "local":
        yield LocalIdempotencyStore(LIMITS)
        return
    async for prefix in unique_prefix("idem-contract"):
        client = aioredis.Redis.from_url(REDIS_URL)
        yield RedisIdempotencyStore(client, prefix=prefix, limits=LIMITS)
        await client.aclose()


async def test_a_claim_is_a_lease_that_expires_when_its_owner_stops_renewing(store):
    assert (await store.claim("k", "fp", "owner-1", 0.2)).kind == "new"
    assert (await store.claim("k", "fp", "owner-2", 0.2)).kind == "in_flight"
    for _ in range(3):  # renewed past its first expiry
        await asyncio.sleep(0.1)
        assert await store.renew("k", "owner-1", 0.2)
    assert (await store.claim("k", "fp", "owner-2", 0.2)).kind == "in_flight"
    assert not await store.renew("k", "owner-2", 0.2)  # not the owner
    await asyncio.sleep(0.3)  # the owner died: no renewal
    assert (await store.claim("k", "fp", "owner-2", 0.2)).kind == "new"
    await store.release("k", "owner-1")  # the dead owner's late release does not drop the new claim
    assert (await store.peek("k")).kind == "in_flight"


async def test_done_is_replayed_and_a_different_request_conflicts(store):
    await store.claim("k", "fp", "t", 5)
    await store.complete("k", "t", response(b"image"), 60)
    replay = await store.claim("k", "fp", "u", 5)
    assert (replay.kind, replay.response) == ("done", response(b"image"))
    assert (await store.claim("k", "other", "u", 5)).kind == "conflict"


async def test_a_failure_reaches_the_waiters_and_a_later_claim_takes_the_key_over(store):
    await store.claim("k", "fp", "t", 5)
    await store.fail("k", "t", response(b'{"error":1}', status=502), 30)
    seen = await store.peek("k")
    assert (seen.kind, seen.response) == ("failed", response(b'{"error":1}', status=502))
    assert (await store.claim("k", "fp", "u", 5)).kind == "new"


async def test_a_body_over_the_entry_cap_is_remembered_as_unavailable(store):
    await store.claim("big", "fp", "t", 5)
    await store.complete("big", "t", response(b"x" * 300_001, request_id="req_big"), 60)
    claim = await store.claim("big", "fp", "u", 5)
    assert claim.kind == "unavailable"
    assert claim.response is not None and claim.response.body == b""
    assert claim.response.header("x-request-id") == "req_big"
    assert await stored_bytes(store) < 300_000


async def test_total_bytes_stay_under_the_bound_with_many_unique_keys(store):
    body = b"y" * 250_000
    for index in range(40):
        key = f"key-{index}"
        assert (await store.claim(key, "fp", "t", 5)).kind == "new"
        await store.complete(key, "t", response(body), 60)
        assert await stored_bytes(store) <= LIMITS.max_total_bytes
    # The newest bodies are replayed; the oldest were dropped but their keys still refuse a re-run.
    newest = await store.claim("key-39", "fp", "u", 5)
    assert (newest.kind, newest.response) == ("done", response(body))
    oldest = await store.claim("key-0", "fp", "u", 5)
    assert oldest.kind == "unavailable"
    kept = [(await store.peek(f"key-{index}")).kind for index in range(40)]
    assert kept.count("done") == LIMITS.max_total_bytes // (len(body) + ENTRY_OVERHEAD_BYTES)


async def test_the_local_store_bounds_its_entry_count():
    store = LocalIdempotencyStore(dataclasses.replace(LIMITS, max_entries=10))
    for index in range(50):
        await store.claim(f"k{index}", "fp", "t", 5)
        await store.complete(f"k{index}", "t", response(b"small"), 60)
    assert len(store) == 10
    assert (await store.peek("k49")).kind == "done"


def _edit(**changes: object) -> ImageRequest:
    request = ImageRequest(
        operation="edit",
        model="gpt-image-2",
        prompt="add a hat",
        dialect="openai",
        size="1024x1024",
        images=[InputImage(b"\x89PNG one", "a.png", "image/png")],
        extra={"b": 1, "a": 2},
    )
    return dataclasses.replace(request, **changes)


def test_the_fingerprint_is_of_the_parsed_request():
    base = request_fingerprint("/v1/images/edits", _edit())
    assert base == request_fingerprint("/v1/images/edits", _edit(extra={"a": 2, "b": 1}))
    assert base != request_fingerprint("/v1/images/generations", _edit())
    assert base != request_fingerprint("/v1/images/edits", _edit(prompt="add a scarf"))
    assert base != request_fingerprint("/v1/images/edits", _edit(images=[InputImage(b"\x89PNG two", "a.png")]))
    assert base != request_fingerprint("/v1/images/edits", _edit(mask=InputImage(b"mask")))
    assert base != request_fingerprint("/v1/images/edits", _edit(seed=0))
