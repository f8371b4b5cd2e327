"""``Idempotency-Key``: a repeated client request returns the first result, without a second
provider call or charge, for a configurable window.

The first request with a key claims it (a lease, renewed while it runs) and runs; duplicates
arriving while it runs wait and receive its outcome, success or failure; duplicates after it
finished get the stored response. A key reused with a different request is refused. Keys are
scoped per virtual key, so two callers never share one. When the first request fails before
producing a response (cancelled, crashed) the claim is released; when its owner dies the lease
runs out; when it produced a transient failure (5xx, 429) the waiting duplicates receive that
failure and a later retry runs again. Bounds and the "unavailable" rule: docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from imagegate.accounting.idempotency import (
    Claim,
    IdempotencyLimits,
    IdempotencyStore,
    LocalIdempotencyStore,
    StoredResponse,
    request_fingerprint,
)
from imagegate.domain.errors import InvalidRequest

log = logging.getLogger("imagegate.idempotency")

__all__ = [
    "Claim",
    "IdempotencyConflict",
    "IdempotencyLimits",
    "IdempotencyStore",
    "IdempotentRunner",
    "LocalIdempotencyStore",
    "ResponseUnavailable",
    "StoredResponse",
    "request_fingerprint",
]


class IdempotencyConflict(InvalidRequest):
    """The key was used before with a different request."""

    code = "idempotency_key_reused"


class ResponseUnavailable(InvalidRequest):
    """The key's first request finished, but its response was too large to keep (or was evicted)."""

    code = "idempotency_response_unavailable"


class IdempotentRunner:
    """Runs a request at most once per (caller, key) within the window."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        window_s: float = 24 * 3600,
        lease_s: float = 30.0,
        failure_ttl_s: float = 30.0,
        wait_timeout_s: float = 900.0,
        poll_s: float = 0.05,
    ) -> None:
        self._store = store
        self._window = window_s
        self._lease = lease_s
        self._failure_ttl = failure_ttl_s
        self._wait_timeout = wait_timeout_s
        self._poll = poll_s

    async def run(
        self, scope: str, key: str, request_fingerprint: str, produce: Callable[[], Awaitable[StoredResponse]]
    ) -> tuple[StoredResponse, bool]:
        """The response for this request and whether it was replayed rather than produced."""
        scoped = f"{scope}:{key}"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self._wait_timeout
        while True:
            claim = await self._store.claim(scoped, request_fingerprint, token, self._lease)
            if claim.kind == "new":
                break
            if claim.kind == "in_flight":
                claim = await self._wait(scoped, deadline)
                if claim.kind == "new":
                    continue  # released, or its owner died: claim it ourselves
            return _replayed(claim), True
        async with self._heartbeat(scoped, token):
            try:
                response = await produce()
            except BaseException:
                await asyncio.shield(self._store.release(scoped, token))
                raise
        if response.status >= 500 or response.status == 429:
            # A transient failure: the duplicates waiting now receive it; a later retry runs again.
            await self._store.fail(scoped, token, response, self._failure_ttl)
        else:
            await self._store.complete(scoped, token, response, self._window)
        return response, False

    async def _wait(self, scoped: str, deadline: float) -> Claim:
        """Wait for an in-flight claim to end: its outcome, or ``new`` once it is free again."""
        while True:
            claim = await self._store.peek(scoped)
            if claim.kind != "in_flight":
                return claim
            if time.monotonic() > deadline:
                raise InvalidRequest(
                    "A request with this Idempotency-Key is still in progress.", param="Idempotency-Key"
                )
            await asyncio.sleep(self._poll)

    @contextlib.asynccontextmanager
    async def _heartbeat(self, scoped: str, token: str) -> AsyncIterator[None]:
        """Renew the claim's lease every third of it while the owner runs."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self._lease / 3)
                try:
                    await self._store.renew(scoped, token, self._lease)
                except Exception:
                    log.warning("renewing the idempotency lease of %s failed; retrying", scoped, exc_info=True)

        task = asyncio.create_task(renew(), name="imagegate-idempotency-lease")
        try:
            yield
        finally:
            task.cancel()  # not awaited: awaiting here could swallow the caller's own cancellation


def _replayed(claim: Claim) -> StoredResponse:
    if claim.kind == "conflict":
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request.", param="Idempotency-Key"
        )
    assert claim.response is not None, claim
    if claim.kind == "unavailable":
        request_id = claim.response.header("x-request-id")
        raise ResponseUnavailable(
            f"The first request with this Idempotency-Key (request id {request_id}) finished with status "
            f"{claim.response.status}, but its response was too large to keep for replay. "
            "Look it up by that request id, or send the request with a new key.",
            param="Idempotency-Key",
        )
    return claim.response
