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
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from imagegate.domain.errors import InvalidRequest


class IdempotencyConflict(InvalidRequest):
    """The key was used before with a different request."""

    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A rendered response, kept for replay (status, the headers worth replaying, body)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class Claim:
    """The state of a key when a request arrives."""

    kind: Literal["new", "in_flight", "done", "conflict"]
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    """Where claims and finished responses live (in-process, or Redis for several replicas)."""

    async def claim(self, key: str, fingerprint: str, ttl_s: float) -> Claim:
        """Atomically claim ``key`` or report its state."""
        ...

    async def complete(self, key: str, response: StoredResponse, ttl_s: float) -> None:
        """Store the finished response for the rest of the window."""
        ...

    async def release(self, key: str) -> None:
        """Drop an unfinished claim."""
        ...

    async def peek(self, key: str) -> Claim:
        """The key's state without claiming it."""
        ...


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What identifies "the same request" for a key."""
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


class LocalIdempotencyStore:
    """Claims in this process (single replica)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[str, float, StoredResponse | None]] = {}

    def _live(self, key: str) -> tuple[str, float, StoredResponse | None] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= self._clock():
            del self._entries[key]
            return None
        return entry

    async def claim(self, key: str, fingerprint: str, ttl_s: float) -> Claim:
        """Claim ``key`` or report its state."""
        entry = self._live(key)
        if entry is None:
            self._entries[key] = (fingerprint, self._clock() + ttl_s, None)
            return Claim("new")
        return _state(entry[0], entry[2], fingerprint)

    async def complete(self, key: str, response: StoredResponse, ttl_s: float) -> None:
        """Store the finished response."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], self._clock() + ttl_s, response)

    async def release(self, key: str) -> None:
        """Drop an unfinished claim."""
        entry = self._entries.get(key)
        if entry is not None and entry[2] is None:
            del self._entries[key]

    async def peek(self, key: str) -> Claim:
        """The key's state."""
        entry = self._live(key)
        if entry is None:
            return Claim("new")
        return Claim("in_flight" if entry[2] is None else "done", entry[2])


def _state(stored_fingerprint: str, response: StoredResponse | None, fingerprint: str) -> Claim:
    if stored_fingerprint != fingerprint:
        return Claim("conflict")
    return Claim("in_flight" if response is None else "done", response)


class IdempotentRunner:
    """Runs a request at most once per (caller, key) within the window."""

    def __init__(self, store: IdempotencyStore, *, window_s: float = 24 * 3600, wait_timeout_s: float = 900.0,
                 poll_s: float = 0.05) -> None:
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
