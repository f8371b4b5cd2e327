"""The retention sweeper: deletes what is due, and runs on one replica at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from imagegate.service.retention import LocalSweepLock, Sweeper, SweepLock
from imagegate.store.database import make_engine
from imagegate.store.sweep_lock import PostgresSweepLock, RedisSweepLock
from tests.storage.conftest import Clock, later, local_store
from tests.storage.test_store_contract import png
from tests.store.fixtures import require_postgres, throwaway_pg_database
from tests.store.redis_fixtures import REDIS_URL, unique_prefix


async def test_a_round_deletes_the_objects_past_retention(tmp_path: Path):
    clock = Clock()
    store = local_store(tmp_path, clock)
    await store.put("a/0.png", png(), content_type="image/png", expires_at=later(clock, minutes=1))
    await store.put("b/0.png", png(), content_type="image/png", expires_at=later(clock, days=1))
    sweeper = Sweeper(store, LocalSweepLock(), interval_s=60, clock=clock)
    assert await sweeper.sweep_once() == 0
    clock.now += timedelta(minutes=2)
    assert await sweeper.sweep_once() == 1
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == ["b", "b/0.png"]


async def _exclusive(first: SweepLock, second: SweepLock) -> None:
    """While ``first`` holds the lock, ``second`` does not get it; afterwards it does."""
    async with first.hold() as held:
        assert held
        async with second.hold() as also:
            assert not also
    async with second.hold() as held_after:
        assert held_after


async def test_the_local_lock_admits_one_round_at_a_time():
    lock = LocalSweepLock()
    await _exclusive(lock, lock)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    async for prefix in unique_prefix("sweep"):
        yield prefix


async def test_the_redis_lock_admits_one_replica_at_a_time(redis_prefix: str):
    clients = [aioredis.Redis.from_url(REDIS_URL) for _ in range(2)]
    try:
        first, second = (RedisSweepLock(client, key=redis_prefix + "lock") for client in clients)
        await _exclusive(first, second)
    finally:
        for client in clients:
            await client.aclose()


@pytest.mark.postgres
async def test_the_postgres_advisory_lock_admits_one_replica_at_a_time():
    with throwaway_pg_database(require_postgres(), migrate=False) as url:
        engines = [make_engine(url) for _ in range(2)]
        try:
            first, second = (PostgresSweepLock(engine) for engine in engines)
            await _exclusive(first, second)
        finally:
            for engine in engines:
                engine.dispose()
