"""The retention sweeper's cross-replica locks (``service.retention.SweepLock``).

PostgreSQL: a session advisory lock held on one pooled connection for the round. Redis: redis-py's
lock (a key with a token and an expiry, released only by its holder), so a replica that dies
mid-round frees it after ``timeout_s``. Both try once and never wait: a replica that does not get
the lock skips the round.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio.to_thread
import redis.asyncio as aioredis
from redis.exceptions import LockError
from sqlalchemy import Connection, Engine, text

# pg_try_advisory_lock's key: any constant unique to this use among the deployment's advisory locks.
SWEEP_LOCK_ID = 0x1A6E_5EE9


class PostgresSweepLock:
    """A session-level advisory lock on the gateway's PostgreSQL database."""

    def __init__(self, engine: Engine, lock_id: int = SWEEP_LOCK_ID) -> None:
        self._engine = engine
        self._lock_id = lock_id

    def _try(self) -> tuple[Connection, bool]:
        connection = self._engine.connect()
        try:
            held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": self._lock_id}).scalar())
        except BaseException:
            connection.close()
            raise
        return connection, held

    def _release(self, connection: Connection, held: bool) -> None:
        try:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self._lock_id})
                connection.commit()
        finally:
            connection.close()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields whether this replica holds the lock for the round."""
        connection, held = await anyio.to_thread.run_sync(self._try)
        try:
            yield held
        finally:
            await anyio.to_thread.run_sync(self._release, connection, held)


class RedisSweepLock:
    """A Redis lock shared by every replica using the same Redis and key."""

    def __init__(self, client: aioredis.Redis, *, key: str = "imagegate:sweep-lock", timeout_s: float = 600.0) -> None:
        self._client = client
        self._key = key
        self._timeout_s = timeout_s

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields whether this replica holds the lock for the round."""
        lock = self._client.lock(self._key, timeout=self._timeout_s, blocking=False)
        held = bool(await lock.acquire())
        try:
            yield held
        finally:
            if held:
                with contextlib.suppress(LockError):  # expired mid-round: someone else may hold it now
                    await lock.release()
