"""Readiness checks of the stores (``service/readiness.py``): a round trip to each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.to_thread
import redis.asyncio as aioredis
from sqlalchemy import Engine, text

# What ``service.readiness`` runs: a coroutine that raises when the store is not reachable.
Check = Callable[[], Awaitable[None]]


def database_check(engine: Engine) -> Check:
    """``SELECT 1`` through the pool (a dead pooled connection fails it, as it would a request)."""

    def select_one() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def check() -> None:
        # Abandoned on timeout: a connect that hangs must not hold the probe.
        await anyio.to_thread.run_sync(select_one, abandon_on_cancel=True)

    return check


def redis_check(client: aioredis.Redis) -> Check:
    """``PING``."""

    async def check() -> None:
        await client.ping()

    return check
