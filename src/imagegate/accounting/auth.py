"""Authenticating a presented virtual key into a Principal, with a short in-process cache.

The cache keeps the hot path off the database: a hit costs one SHA-256 and a dict lookup. A
revoked key stops working within ``cache_ttl_s`` on every replica; ``last_used_at`` is recorded
in memory and flushed in batches by the ledger writer's thread.

Known keys and unknown secrets are cached apart. Known keys are bounded by the key table; unknown
secrets are whatever callers send, so that cache is an LRU of ``negative_entries`` (a flood of
random keys evicts only other random keys, never a real key's entry).
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio.to_thread

from imagegate.accounting.keys import hash_key
from imagegate.accounting.ports import ApiKeyRecord, KeyStore, Role
from imagegate.domain.errors import AuthenticationFailed, PermissionDenied
from imagegate.domain.limits import Limits

__all__ = ["KeyAuthenticator", "Principal", "Role"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: which key, its team, its role, and what it may use and spend.

    ``key_limits`` and ``team_limits`` are both enforced at admission (both must pass); ``tags``
    are the key's metadata, copied onto its ledger rows.
    """

    key_id: int
    key_name: str
    models: frozenset[str] | None
    team_id: int | None = None
    team_name: str | None = None
    role: Role = "client"
    key_limits: Limits = field(default_factory=Limits)
    team_limits: Limits = field(default_factory=Limits)
    tags: tuple[tuple[str, str], ...] = ()
    # The dialects (openai, gemini, imagen) this key may call; None: all of them.
    dialects: frozenset[str] | None = None

    def check_model(self, alias: str) -> None:
        """Raise ``PermissionDenied`` when this key may not use ``alias``."""
        if not self.may_use(alias):
            raise PermissionDenied(f"this key is not allowed to use model '{alias}'", param="model")

    def may_use(self, alias: str) -> bool:
        """Whether this key may use ``alias``: listed by name or matched by a glob (``gpt-image-*``)."""
        if self.models is None or alias in self.models:
            return True
        return any(admits(allowed, alias) for allowed in self.models)

    def check_endpoint(self, dialect: str, operation: str) -> None:
        """Raise ``EndpointNotAllowed`` unless this key may call ``dialect`` (and that ``operation`` of it).

        An allowed entry is a dialect (``openai-images``, ``gemini``, ``imagen``) or one of its
        operations (``openai-images:edit``).
        """
        if self.dialects is None or dialect in self.dialects or f"{dialect}:{operation}" in self.dialects:
            return
        raise EndpointNotAllowed(
            f"this key is not allowed to call the {dialect} {operation} endpoint; "
            f"it may call: {', '.join(sorted(self.dialects)) or 'none'}"
        )


class EndpointNotAllowed(PermissionDenied):
    """The key's allowed dialects/endpoints do not include this one."""

    code = "endpoint_not_allowed"


def is_pattern(model: str) -> bool:
    """Whether an allowed-models entry is a glob pattern rather than an alias name."""
    return any(char in model for char in "*?[")


def admits(allowed: str, alias: str) -> bool:
    """Whether one allowed-models entry admits ``alias``: its name, or a glob (``gpt-image-*``) matching it."""
    return allowed == alias or (is_pattern(allowed) and fnmatch.fnmatchcase(alias, allowed))


def _current_secret(record: ApiKeyRecord, digest: str, wall: datetime) -> bool:
    """Whether ``digest`` is the key's secret now: its current one, or the previous one in a rotation's grace."""
    if digest == record.key_hash:
        return True
    return (
        digest == record.previous_key_hash
        and record.previous_valid_until is not None
        and record.previous_valid_until > wall
    )


def principal_of(record: ApiKeyRecord) -> Principal:
    """The caller a stored key (and the team read with it) stands for."""
    team = record.team
    return Principal(
        key_id=record.id,
        key_name=record.name,
        models=None if record.models is None else frozenset(record.models),
        team_id=record.team_id,
        team_name=None if team is None else team.name,
        role=record.role,
        key_limits=record.limits,
        team_limits=Limits() if team is None else team.limits,
        tags=record.tags,
        dialects=None if record.allowed_dialects is None else frozenset(record.allowed_dialects),
    )


class KeyAuthenticator:
    """Turns a presented secret into a Principal (or ``AuthenticationFailed``)."""

    def __init__(
        self,
        store: KeyStore,
        *,
        cache_ttl_s: float = 5.0,
        negative_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._ttl = cache_ttl_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._cache: dict[str, tuple[float, ApiKeyRecord]] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._negative_entries = negative_entries
        self._last_used: dict[int, datetime] = {}
        self._lock = threading.Lock()
        # Lookups in flight, by key hash (at most one each; as many as requests in flight at most).
        self._loading: dict[str, asyncio.Future[ApiKeyRecord | None]] = {}

    async def authenticate(self, secret: str | None) -> Principal:
        """The Principal for ``secret``; the message never echoes the secret back."""
        if secret is None or secret == "":
            raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer <key>'.")
        return await self.authenticate_digest(hash_key(secret))

    async def authenticate_digest(self, digest: str) -> Principal:
        """The Principal for a key known by its stored hash (a job running for the key that submitted it)."""
        record = await self._record(digest)
        wall = self._wall_clock()
        if record is None or not record.active or not _current_secret(record, digest, wall):
            raise AuthenticationFailed("Incorrect API key provided.")
        if record.expires_at is not None and record.expires_at <= wall:
            raise AuthenticationFailed("This API key has expired.")
        with self._lock:
            self._last_used[record.id] = wall
        return principal_of(record)

    async def _record(self, digest: str) -> ApiKeyRecord | None:
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        unknown_until = self._unknown.get(digest)
        if unknown_until is not None and unknown_until > now:
            self._unknown.move_to_end(digest)
            return None
        # One lookup per key at a time: when a busy key's entry expires, every request in flight
        # for it would otherwise miss together and each send the same query (a p99 spike every
        # ``cache_ttl_s``). Shielded: a waiter that goes away does not cancel the others' lookup.
        loading = self._loading.get(digest)
        if loading is None:
            loading = asyncio.ensure_future(self._load(digest, now))
            self._loading[digest] = loading
            loading.add_done_callback(lambda _: self._loading.pop(digest, None))
        return await asyncio.shield(loading)

    async def _load(self, digest: str, now: float) -> ApiKeyRecord | None:
        record = await anyio.to_thread.run_sync(self._store.key_by_hash, digest)
        if record is None:
            self._cache.pop(digest, None)
            self._remember_unknown(digest, now + self._ttl)
        else:
            self._unknown.pop(digest, None)
            self._cache[digest] = (now + self._ttl, record)
        return record

    def _remember_unknown(self, digest: str, until: float) -> None:
        self._unknown[digest] = until
        self._unknown.move_to_end(digest)
        while len(self._unknown) > self._negative_entries:
            self._unknown.popitem(last=False)

    def unknown_entries(self) -> int:
        """How many unknown secrets are remembered now (bounded by ``negative_entries``)."""
        return len(self._unknown)

    def take_last_used(self) -> dict[int, datetime]:
        """Hand over (and forget) the last-used times recorded since the previous call."""
        with self._lock:
            taken, self._last_used = self._last_used, {}
        return taken
