"""Idempotency claims: the port and the value types; ``store/`` has the Redis implementation.

See ``service/idempotency.py`` for the runner that uses them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol


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
