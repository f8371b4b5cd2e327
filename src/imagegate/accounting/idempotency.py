"""Idempotency claims: the port, the value types, the request fingerprint and the in-process store.

``store/redis_idempotency.py`` implements the same port over Redis; ``service/idempotency.py`` is the
runner that uses it. The rules both stores keep (docs/reliability.md, "Idempotency"):

- A claim is a **lease**: it lives ``lease_s`` and its owner renews it while the request runs. An
  owner that dies stops renewing, the claim expires, and a retry (on any replica) runs.
- A finished response is kept for the window, but **bounded**: a body over ``max_entry_bytes`` is
  never stored, and the total of stored bodies stays under ``max_total_bytes`` (least recently used
  bodies are dropped first). A key whose body is not (or no longer) kept is remembered as
  ``unavailable``: a retry is refused with a clear error naming the first request, never re-run
  and charged twice.
- A transient failure (5xx, 429) is kept briefly as ``failed``: the duplicates that were waiting
  on it receive it, while a retry that arrives afterwards takes the key over and runs.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal, Protocol

import orjson

from imagegate.domain.request import ImageRequest, InputImage

ClaimKind = Literal["new", "in_flight", "done", "failed", "unavailable", "conflict"]

# Bytes charged per entry besides its body (key, fingerprint, headers, bookkeeping), so a flood of
# small entries is bounded by the byte budget as well as by the entry count.
ENTRY_OVERHEAD_BYTES = 512


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A rendered response, kept for replay (status, the headers worth replaying, body)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    media_type: str

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def without_body(self) -> StoredResponse:
        """The same response with its body dropped (what an ``unavailable`` key remembers)."""
        return StoredResponse(self.status, self.headers, b"", self.media_type)


@dataclass(frozen=True, slots=True)
class Claim:
    """The state of a key when a request arrives (or a waiter looks again).

    ``token`` identifies the owner of a ``new`` claim (renew, complete and release need it);
    ``response`` is the stored response of a ``done`` or ``failed`` key, and the body-less record
    of an ``unavailable`` one.
    """

    kind: ClaimKind
    response: StoredResponse | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyLimits:
    """The bounds of a store (settings ``idempotency_*``)."""

    max_total_bytes: int = 256 * 1024 * 1024
    max_entry_bytes: int = 32 * 1024 * 1024
    max_entries: int = 100_000


class IdempotencyStore(Protocol):
    """Where claims and finished responses live (in-process, or Redis for several replicas)."""

    async def claim(self, key: str, fingerprint: str, token: str, lease_s: float) -> Claim:
        """Atomically claim ``key`` for ``token`` (a ``new`` claim) or report its state."""
        ...

    async def renew(self, key: str, token: str, lease_s: float) -> bool:
        """Extend the owner's lease; False when the claim is no longer ``token``'s."""
        ...

    async def complete(self, key: str, token: str, response: StoredResponse, ttl_s: float) -> None:
        """Keep the finished response for the window (or remember it as unavailable, over the cap)."""
        ...

    async def fail(self, key: str, token: str, response: StoredResponse, ttl_s: float) -> None:
        """Keep a transient failure for ``ttl_s``, for the duplicates waiting on this claim."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Drop an unfinished claim of ``token``."""
        ...

    async def peek(self, key: str) -> Claim:
        """The key's state without claiming it."""
        ...


def request_fingerprint(route: str, request: ImageRequest) -> str:
    """What identifies "the same request" for a key: the parsed request, not its bytes.

    Canonical fields in a fixed order (so reordered JSON or a new multipart boundary fingerprint
    the same) and a SHA-256 of each uploaded file. ``route`` is the endpoint (path) it came to.
    """
    digest = hashlib.sha256(route.encode())
    for spec in fields(ImageRequest):
        value = getattr(request, spec.name)
        digest.update(b"\0" + spec.name.encode() + b"=")
        if spec.name == "images":
            for image in value:
                digest.update(_image_digest(image))
        elif spec.name == "mask":
            digest.update(b"-" if value is None else _image_digest(value))
        else:
            digest.update(orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_opaque))
    return digest.hexdigest()


def _image_digest(image: InputImage) -> bytes:
    meta = orjson.dumps([image.filename, image.content_type])
    return meta + hashlib.sha256(image.data).digest()


def _opaque(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return hashlib.sha256(value).hexdigest()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    kind: Literal["in_flight", "done", "failed", "unavailable"]
    expires: float
    token: str | None = None
    response: StoredResponse | None = None

    @property
    def size(self) -> int:
        body = 0 if self.response is None else len(self.response.body)
        return ENTRY_OVERHEAD_BYTES + body


class LocalIdempotencyStore:
    """Claims in this process (single replica), bounded by ``limits`` (see the module docstring)."""

    def __init__(self, limits: IdempotencyLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits if limits is not None else IdempotencyLimits()
        self._clock = clock
        # Least recently used first; ``_bytes`` is the sum of the entries' sizes.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    @property
    def total_bytes(self) -> int:
        """The bytes the store holds now (bodies plus per-entry overhead)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= self._clock():
            self._drop(key)
            return None
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.size

    def _put(self, key: str, entry: _Entry) -> None:
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._bytes += entry.size
        self._evict()

    def _evict(self) -> None:
        now = self._clock()
        for key in [key for key, entry in self._entries.items() if entry.expires <= now]:
            self._drop(key)
        # Least recently used first: drop bodies (the key stays, refusing a re-run) while over the
        # byte budget; then whole entries while over either bound. Live claims are never evicted
        # (they are bounded by the requests in flight).
        for entry in list(self._entries.values()):
            if self._bytes <= self._limits.max_total_bytes:
                break
            if entry.kind == "done":
                self._bytes -= entry.size
                entry.kind = "unavailable"
                entry.response = None if entry.response is None else entry.response.without_body()
                self._bytes += entry.size
        for key, entry in list(self._entries.items()):
            if self._bytes <= self._limits.max_total_bytes and len(self._entries) <= self._limits.max_entries:
                break
            if entry.kind != "in_flight":
                self._drop(key)

    async def claim(self, key: str, fingerprint: str, token: str, lease_s: float) -> Claim:
        """Claim ``key`` or report its state."""
        entry = self._live(key)
        if entry is None or entry.kind == "failed":
            self._put(key, _Entry(fingerprint, "in_flight", self._clock() + lease_s, token=token))
            return Claim("new", token=token)
        if entry.fingerprint != fingerprint:
            return Claim("conflict")
        return Claim(entry.kind, entry.response)

    async def renew(self, key: str, token: str, lease_s: float) -> bool:
        """Extend the lease of ``token``'s claim."""
        entry = self._live(key)
        if entry is None or entry.kind != "in_flight" or entry.token != token:
            return False
        entry.expires = self._clock() + lease_s
        return True

    async def complete(self, key: str, token: str, response: StoredResponse, ttl_s: float) -> None:
        """Keep the finished response (or remember it as unavailable when over the per-entry cap)."""
        self._finish(key, token, "done", response, ttl_s)

    async def fail(self, key: str, token: str, response: StoredResponse, ttl_s: float) -> None:
        """Keep a transient failure briefly for the waiting duplicates."""
        self._finish(key, token, "failed", response, ttl_s)

    def _finish(
        self, key: str, token: str, kind: Literal["done", "failed"], response: StoredResponse, ttl_s: float
    ) -> None:
        entry = self._live(key)
        if entry is None or entry.token != token:
            return
        if len(response.body) <= self._limits.max_entry_bytes:
            self._put(key, _Entry(entry.fingerprint, kind, self._clock() + ttl_s, response=response))
        elif kind == "done":
            kept = response.without_body()
            self._put(key, _Entry(entry.fingerprint, "unavailable", self._clock() + ttl_s, response=kept))
        else:
            self._drop(key)  # an oversized failure is not kept: the waiters retry the key

    async def release(self, key: str, token: str) -> None:
        """Drop ``token``'s unfinished claim."""
        entry = self._entries.get(key)
        if entry is not None and entry.kind == "in_flight" and entry.token == token:
            self._drop(key)

    async def peek(self, key: str) -> Claim:
        """The key's state."""
        entry = self._live(key)
        if entry is None:
            return Claim("new")
        return Claim(entry.kind, entry.response)
