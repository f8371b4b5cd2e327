"""``Idempotency-Key``: a repeated client request returns the first result, without a second
provider call or charge, for a configurable window.

The first request with a key claims it and runs; duplicates arriving while it runs wait for its
result; duplicates after it finished get the stored response. A key reused with a different
request body is refused. Keys are scoped per virtual key, so two callers never share one. When
the first request fails before producing a response (cancelled, crashed), or produces a
transient failure (5xx, 429), the claim is released so a retry can run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from imagegate.accounting.idempotency import (
    Claim,
    IdempotencyStore,
    LocalIdempotencyStore,
    StoredResponse,
    fingerprint,
)
from imagegate.domain.errors import InvalidRequest

__all__ = [
    "Claim",
    "IdempotencyConflict",
    "IdempotencyStore",
    "IdempotentRunner",
    "LocalIdempotencyStore",
    "StoredResponse",
    "fingerprint",
]


class IdempotencyConflict(InvalidRequest):
    """The key was used before with a different request."""

    code = "idempotency_key_reused"


class IdempotentRunner:
    """Runs a request at most once per (caller, key) within the window."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        window_s: float = 24 * 3600,
        wait_timeout_s: float = 900.0,
        poll_s: float = 0.05,
    ) -> None:
        self._store = store
        self._window = window_s
        self._wait_timeout = wait_timeout_s
        self._poll = poll_s

    async def run(
        self, scope: str, key: str, request_fingerprint: str, produce: Callable[[], Awaitable[StoredResponse]]
    ) -> tuple[StoredResponse, bool]:
        """The response for this request and whether it was replayed rather than produced."""
        scoped = f"{scope}:{key}"
        deadline = time.monotonic() + self._wait_timeout
        while True:
            claim = await self._store.claim(scoped, request_fingerprint, self._window)
            if claim.kind == "conflict":
                raise IdempotencyConflict(
                    "This Idempotency-Key was already used with a different request.", param="Idempotency-Key"
                )
            if claim.kind == "done":
                assert claim.response is not None
                return claim.response, True
            if claim.kind == "new":
                break
            # in flight elsewhere: wait for it to finish (or be released), then look again
            while (await self._store.peek(scoped)).kind == "in_flight":
                if time.monotonic() > deadline:
                    raise InvalidRequest(
                        "A request with this Idempotency-Key is still in progress.", param="Idempotency-Key"
                    )
                await asyncio.sleep(self._poll)
        try:
            response = await produce()
        except BaseException:
            await asyncio.shield(self._store.release(scoped))
            raise
        if response.status >= 500 or response.status == 429:
            # A transient failure is exactly what a client retries; let the retry run.
            await self._store.release(scoped)
        else:
            await self._store.complete(scoped, response, self._window)
        return response, False
