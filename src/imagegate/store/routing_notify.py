"""``PgChangeFeed``: routing changes pushed to every replica with PostgreSQL ``LISTEN``/``NOTIFY``.

``SqlRoutingState`` sends a notification on ``CONTROLS_CHANNEL`` inside each change's transaction,
so PostgreSQL delivers it to every listening session when (and only if) the change commits. Each
replica holds one idle connection that listens; the controls refresher sleeps on it instead of
reading the database every ``controls_refresh_s``, and an idle gateway wakes for nothing.

It waits for the socket to become readable itself rather than with psycopg's ``notifies()``,
whose wait wakes every 0.1 s to check for interrupts: that alone was ten wake-ups a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy.engine import URL

from imagegate.store.routing_state import CONTROLS_CHANNEL

log = logging.getLogger("imagegate.routing")


class PgChangeFeed:
    """A listening session on ``CONTROLS_CHANNEL``, opened on first use and reopened after a failure."""

    def __init__(self, url: URL, channel: str = CONTROLS_CHANNEL) -> None:
        # libpq takes the URL without SQLAlchemy's driver suffix (``postgresql+psycopg``).
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def wait(self, timeout_s: float) -> None:
        """Return on the next notification or after ``timeout_s``.

        Right after (re)connecting it returns at once: a change may have committed while nobody
        listened, and the caller's version read catches it. Without a connection it sleeps out
        ``timeout_s``, so the caller falls back to polling at that pace.
        """
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                await self._conn.execute(f'LISTEN "{self._channel}"')
            except (psycopg.Error, OSError):
                log.warning("listening for routing changes failed; polling every %.0f s", timeout_s, exc_info=True)
                await self.close()
                await asyncio.sleep(timeout_s)
            return
        try:
            if await _readable(self._conn.fileno(), timeout_s):
                self._conn.pgconn.consume_input()  # raises when the server went away
                while self._conn.pgconn.notifies() is not None:
                    pass  # any notification means "read the version": drop them all
        except (psycopg.Error, OSError):
            log.warning("the routing-change listener lost its connection; reconnecting", exc_info=True)
            await self.close()

    async def close(self) -> None:
        """Close the listening connection (the next ``wait`` opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


async def _readable(fd: int, timeout_s: float) -> bool:
    """Whether ``fd`` became readable within ``timeout_s`` (one event-loop reader, no polling)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _resolve, ready)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await ready
    finally:
        loop.remove_reader(fd)
    return ready.done() and not ready.cancelled()


def _resolve(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
