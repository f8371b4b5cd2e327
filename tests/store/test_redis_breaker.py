"""Breaker state in a real Redis, shared across clients and across processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
import redis.asyncio as aioredis

from imagegate.routing.breaker import BreakerConfig
from imagegate.store.redis_breaker import RedisBreakerStore
from tests.store.redis_fixtures import REDIS_URL, unique_prefix

CONFIG = BreakerConfig(consecutive_failures=3, cooldown_s=30.0, probe_timeout_s=100.0, half_open_probes=1)


@pytest.fixture
async def prefix():
    async for name in unique_prefix("breaker"):
        yield name


def store(prefix: str) -> RedisBreakerStore:
    return RedisBreakerStore(aioredis.Redis.from_url(REDIS_URL), CONFIG, prefix=prefix)


async def test_transitions_match_the_pure_rules(prefix):
    breaker = store(prefix)
    for now in (1.0, 2.0, 3.0):
        assert (await breaker.admit("r", now)).allowed
        await breaker.record("r", now, success=False)
    assert (await breaker.state("r")).state == "open"
    refused = await breaker.admit("r", 10.0)
    assert not refused.allowed and refused.retry_after_s == 23.0
    assert (await breaker.admit("r", 40.0)).probe
    assert (await breaker.state("r")).state == "half_open"
    await breaker.record("r", 41.0, success=True)
    assert (await breaker.state("r")).state == "closed"
    await breaker.aclose()


async def test_only_one_half_open_probe_across_concurrent_replicas(prefix):
    first, second = store(prefix), store(prefix)
    for now in (1.0, 2.0, 3.0):
        await first.record("r", now, success=False)
    admitted = await asyncio.gather(*[(first if i % 2 else second).admit("r", 50.0) for i in range(10)])
    assert sum(admission.allowed for admission in admitted) == 1
    await first.aclose()
    await second.aclose()


async def test_a_released_probe_slot_admits_the_next_call_at_once(prefix):
    breaker = store(prefix)
    for now in (1.0, 2.0, 3.0):
        await breaker.record("r", now, success=False)
    assert (await breaker.admit("r", 40.0)).probe
    assert not (await breaker.admit("r", 41.0)).allowed
    await breaker.release("r")
    assert (await breaker.state("r")).probes == 0
    assert (await breaker.admit("r", 42.0)).probe
    await breaker.aclose()


async def test_a_configured_number_of_probes_run_across_replicas(prefix):
    config = BreakerConfig(consecutive_failures=3, cooldown_s=30.0, half_open_probes=3)
    first = RedisBreakerStore(aioredis.Redis.from_url(REDIS_URL), config, prefix=prefix)
    second = RedisBreakerStore(aioredis.Redis.from_url(REDIS_URL), config, prefix=prefix)
    for now in (1.0, 2.0, 3.0):
        await first.record("r", now, success=False)
    admitted = await asyncio.gather(*[(first if i % 2 else second).admit("r", 50.0) for i in range(10)])
    assert sum(admission.allowed for admission in admitted) == 3
    await first.aclose()
    await second.aclose()


async def test_state_is_shared_by_two_processes(prefix):
    script = textwrap.dedent(f"""
        import asyncio
        import redis.asyncio as aioredis
        from imagegate.routing.breaker import BreakerConfig
        from imagegate.store.redis_breaker import RedisBreakerStore

        async def main():
            store = RedisBreakerStore(aioredis.Redis.from_url({REDIS_URL!r}),
                                      BreakerConfig(consecutive_failures=3), prefix={prefix!r})
            for now in (1.0, 2.0, 3.0):
                await store.record("shared-route", now, success=False)
            await store.aclose()

        asyncio.run(main())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    breaker = store(prefix)
    assert (await breaker.state("shared-route")).state == "open"
    assert not (await breaker.admit("shared-route", 5.0)).allowed
    await breaker.aclose()
