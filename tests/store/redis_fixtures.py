"""A Redis key prefix unique to one test, removed afterwards; Redis must be up (or skipping allowed)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

REDIS_URL = os.environ.get("IMAGEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def unique_prefix(label: str) -> AsyncIterator[str]:
    """Yield ``imagegate-test-<label>:<random>:`` and delete every key under it afterwards.

    An unreachable Redis fails the test with a clear message, unless IMAGEGATE_TEST_SKIP_REDIS=1.
    """
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:
        await client.aclose()
        if os.environ.get("IMAGEGATE_TEST_SKIP_REDIS") == "1":
            pytest.skip("Redis not reachable and IMAGEGATE_TEST_SKIP_REDIS=1")
        pytest.fail(f"Redis is not reachable at {REDIS_URL}; start it or set IMAGEGATE_TEST_REDIS_URL")
    name = f"imagegate-test-{label}:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in client.scan_iter(match=name + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
