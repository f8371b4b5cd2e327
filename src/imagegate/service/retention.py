"""The retention sweeper: deletes stored images past their lifetime, on one replica at a time.

Other records that expire with their images (image jobs) join a round with ``add_round``: each
deletes a bounded batch per round and runs before the store's own sweep.

Every replica runs the loop; each round first takes the deployment's sweep lock (a PostgreSQL
advisory lock, or a Redis lock when Redis is configured; on SQLite an in-process lock, since a
single-host deployment needs no more) and skips the round when another replica holds it.
Deleting is idempotent, so a lock lost mid-round costs duplicate work, never harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Protocol

from imagegate.accounting.ledger import utc_now
from imagegate.domain.image_store import ImageStore

log = logging.getLogger("imagegate.storage")


class SweepLock(Protocol):
    """Lets one holder at a time into a round of sweeping across every replica."""

    def hold(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """Try to take the lock without waiting: yields whether this caller holds it."""
        ...


class LocalSweepLock:
    """The lock of a single-host deployment (SQLite): one round at a time in this process."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields False while another round of this process runs."""
        if self._lock.locked():
            yield False
            return
        async with self._lock:
            yield True


ExpirySweep = Callable[[datetime], Awaitable[int]]
"""Delete a bounded batch of what expired by the given time; how many records went."""


class Sweeper:
    """One round deletes what the store retains past now; ``forever`` repeats it."""

    def __init__(
        self, store: ImageStore, lock: SweepLock, *, interval_s: float, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.store = store
        self.lock = lock
        self.interval_s = interval_s
        self._clock = clock
        self._rounds: list[tuple[str, ExpirySweep]] = []

    def add_round(self, what: str, sweep: ExpirySweep) -> None:
        """Also run ``sweep`` (deleting expired ``what``) in every round, under the same lock."""
        self._rounds.append((what, sweep))

    async def sweep_once(self) -> int | None:
        """Run one round if this replica gets the lock: how many objects it deleted, or None."""
        async with self.lock.hold() as held:
            if not held:
                return None
            now = self._clock()
            for what, sweep in self._rounds:
                try:
                    gone = await sweep(now)
                except Exception:
                    log.exception("retention sweep of expired %s failed; retrying next round", what)
                    continue
                if gone:
                    log.info("retention sweep deleted %d expired %s", gone, what)
            deleted = await self.store.sweep(now)
        if deleted:
            log.info("retention sweep deleted %d stored images", deleted)
        return deleted

    async def forever(self) -> None:
        """Sweep every ``interval_s`` seconds (a server lifespan task), starting at once."""
        while True:
            try:
                await self.sweep_once()
            except Exception:
                log.exception("retention sweep failed; retrying next round")
            await asyncio.sleep(self.interval_s)
