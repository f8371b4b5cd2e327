"""The persistence contracts accounting needs; ``store/`` implements them, ``app.py`` wires them.

The ports are synchronous on purpose: callers on the event loop reach them through
``anyio.to_thread`` (auth cache misses) or the ledger writer's own thread, so a slow database
never blocks the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from imagegate.domain.limits import Limits

Role = Literal["client", "admin-read", "admin"]
ROLES: tuple[Role, ...] = ("client", "admin-read", "admin")


class DuplicateKeyName(Exception):
    """A key with that name already exists."""


class DuplicateTeamName(Exception):
    """A team with that name already exists."""


class UnknownTeam(Exception):
    """No team has that id or name."""


@dataclass(frozen=True, slots=True)
class TeamRecord:
    """A team: it owns keys; its limits apply to all of them together."""

    id: int
    name: str
    created_at: datetime
    limits: Limits = field(default_factory=Limits)
    # Percentages of a budget at which a usage alert fires (e.g. (50, 80, 100)); None: no alerts.
    alert_thresholds: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored virtual key. Only the hash of the secret is ever stored.

    ``team`` is the owning team as read together with the key (None: no team). During a
    rotation's grace, ``previous_key_hash`` (the replaced secret's hash) still authenticates until
    ``previous_valid_until``.
    """

    id: int
    name: str
    prefix: str
    key_hash: str
    models: tuple[str, ...] | None
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    team_id: int | None = None
    role: Role = "client"
    limits: Limits = field(default_factory=Limits)
    tags: tuple[tuple[str, str], ...] = ()
    allowed_dialects: tuple[str, ...] | None = None
    alert_thresholds: tuple[int, ...] | None = None
    previous_key_hash: str | None = None
    previous_valid_until: datetime | None = None
    team: TeamRecord | None = None

    @property
    def active(self) -> bool:
        """Not revoked (expiry is checked against a clock by the caller)."""
        return self.revoked_at is None


@dataclass(slots=True)
class LedgerEntry:
    """One attempt that reached (or tried to reach) a provider. Append-only; never holds base64.

    ``status`` is ``unknown`` for an attempt whose owner died before recording its outcome: the
    sweeper writes it from the attempt's pending record, at the quote, ``cost_estimated``.
    """

    request_id: str
    attempt: int
    model: str
    provider: str
    provider_model: str
    route: str
    operation: str
    dialect: str
    status: Literal["ok", "error", "unknown"]
    created_at: datetime
    key_id: int | None = None
    key_name: str | None = None
    team: str | None = None
    tags: dict[str, str] | None = None
    error_code: str | None = None
    http_status: int | None = None
    images: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    cost_micros: int = 0
    cost_estimated: bool = False
    latency_ms: int = 0
    provider_request_id: str | None = None
    stream: bool = False
    client_disconnected: bool = False


class KeyStore(Protocol):
    """Virtual keys, looked up by the hash of the presented secret."""

    def create_key(
        self,
        *,
        name: str,
        prefix: str,
        key_hash: str,
        models: Sequence[str] | None,
        expires_at: datetime | None = None,
        team_id: int | None = None,
        role: Role = "client",
        limits: Limits | None = None,
        tags: dict[str, str] | None = None,
        allowed_dialects: Sequence[str] | None = None,
    ) -> ApiKeyRecord:
        """Store a new key; raises ``DuplicateKeyName`` if the name is taken, ``UnknownTeam``
        if ``team_id`` names no team."""
        ...

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        """The key whose current (or, in a rotation's grace, previous) secret hashes to
        ``key_hash``, revoked or not, with its team."""
        ...

    def list_keys(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        ...

    def revoke_key(self, name: str, at: datetime) -> bool:
        """Mark the named key revoked; False when no active key has that name."""
        ...

    def touch_keys(self, last_used: dict[int, datetime]) -> None:
        """Record ``last_used_at`` for several keys at once (writes are batched off the hot path)."""
        ...


class KeyAdminStore(KeyStore, Protocol):
    """What key administration needs beyond authentication: look-up by name, changes, rotation."""

    def key_by_name(self, name: str) -> ApiKeyRecord | None:
        """The key called ``name``, revoked or not."""
        ...

    def update_key(self, name: str, **changes: Any) -> ApiKeyRecord | None:
        """Set the given columns of the named key; None when no key has that name."""
        ...

    def rotate_key(
        self, name: str, *, prefix: str, key_hash: str, previous_valid_until: datetime
    ) -> ApiKeyRecord | None:
        """Give the named active key a new secret, the old one valid until ``previous_valid_until``."""
        ...


class TeamStore(Protocol):
    """Teams: named owners of keys, with limits shared by all their keys."""

    def create_team(
        self, *, name: str, limits: Limits | None = None, alert_thresholds: Sequence[int] | None = None
    ) -> TeamRecord:
        """Store a new team; raises ``DuplicateTeamName`` if the name is taken."""
        ...

    def team_by_name(self, name: str) -> TeamRecord | None:
        """The team called ``name``, if any."""
        ...

    def team_by_id(self, team_id: int) -> TeamRecord | None:
        """The team with id ``team_id``, if any."""
        ...

    def list_teams(self) -> list[TeamRecord]:
        """Every team, oldest first."""
        ...

    def update_team(
        self, name: str, *, limits: Limits | None = None, alert_thresholds: Sequence[int] | None = None
    ) -> TeamRecord:
        """Replace the given fields (None: unchanged); raises ``UnknownTeam``."""
        ...


class LedgerStore(Protocol):
    """The append-only usage ledger."""

    def append_entries(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert the entries in one transaction."""
        ...

    def query_entries(
        self,
        *,
        since: datetime | None = None,
        key_name: str | None = None,
        model: str | None = None,
        team: str | None = None,
        request_id: str | None = None,
        limit: int = 100,
    ) -> list[LedgerEntry]:
        """Entries matching every given filter, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class PendingAttempt:
    """An attempt about to call a provider, recorded durably before the call.

    ``entry`` is the row the ledger gets if the outcome is never recorded (status ``unknown``,
    the quote as an estimated cost); ``resolve_after`` is when the sweeper may write it, unless
    the owner renews it (it does while the attempt runs) or records the real outcome first.
    """

    entry: LedgerEntry
    resolve_after: datetime

    @property
    def key(self) -> tuple[str, int]:
        """``(request_id, attempt)``: what the real outcome's ledger row completes."""
        return self.entry.request_id, self.entry.attempt


class PendingAttemptStore(Protocol):
    """Pending attempts: written before a provider call, completed (with their ledger rows) after."""

    def begin_attempts(self, pending: Sequence[PendingAttempt]) -> None:
        """Record attempts as started, in one transaction."""
        ...

    def complete_attempts(self, entries: Sequence[LedgerEntry], begun: Sequence[tuple[str, int]]) -> None:
        """Append ``entries`` to the ledger and drop the ``begun`` pending records, in one transaction."""
        ...

    def renew_attempts(self, keys: Sequence[tuple[str, int]], resolve_after: datetime) -> None:
        """Push back the resolution of attempts still running in this process."""
        ...

    def resolve_stale_attempts(self, now: datetime) -> list[LedgerEntry]:
        """Write every pending attempt due by ``now`` to the ledger as ``unknown``; the rows written."""
        ...

    def adopt_attempts(self, pending: Sequence[PendingAttempt]) -> int:
        """Store pending attempts recovered from a dead process's spool, skipping any whose ledger
        row or pending record already exists; how many were stored (one transaction)."""
        ...

    def settle_attempts(self, entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
        """Record the outcomes of held attempts exactly once: drop their pending records and append
        each entry whose attempt has no ledger row yet (the sweeper may have written it as
        ``unknown`` first), in one transaction; the entries appended."""
        ...


class AttemptSpool(Protocol):
    """This process's local write-ahead log of begun attempts (see ``accounting.ledger``).

    ``append`` is called on the event loop before each provider call and must cost a few
    microseconds and no blocking system call; the other methods run on the ledger writer's thread.
    """

    def append(self, pending: PendingAttempt) -> None:
        """Note a begun attempt; it survives this process being killed from the moment this returns."""
        ...

    def discard(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget attempts whose outcome (or pending record) is now in the database."""
        ...

    def recover(self) -> list[tuple[object, list[PendingAttempt]]]:
        """The begun attempts of spools whose processes died, each with a token for ``release``."""
        ...

    def release(self, token: object, *, stored: bool) -> None:
        """Let go of a recovered spool: deleted when its attempts were stored (``adopt_attempts``),
        kept for a later try otherwise."""
        ...

    def close(self) -> None:
        """Close this process's spool (deleted when no attempt in it is still open)."""
        ...
