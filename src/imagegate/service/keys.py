"""Key administration shared by the CLI and the admin API: create (shown once), list, revoke."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from imagegate.accounting.keys import generate_key
from imagegate.accounting.ports import ApiKeyRecord, KeyStore


class KeyView(TypedDict):
    """The public view of a key: what the CLI and the admin API show (never its hash or secret)."""

    name: str
    prefix: str
    models: list[str] | None
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    expires_at: str | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``secret`` is returned to the caller once and never stored."""

    record: ApiKeyRecord
    secret: str


class KeyAdmin:
    """Operations on virtual keys; raises ``DuplicateKeyName`` for a taken name."""

    def __init__(self, store: KeyStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock

    def create(self, name: str, models: Sequence[str] | None = None, expires_at: datetime | None = None) -> CreatedKey:
        """Generate and store a key; only its hash is kept."""
        new = generate_key()
        record = self._store.create_key(
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
            models=None if models is None else list(models),
            expires_at=expires_at,
        )
        return CreatedKey(record=record, secret=new.secret)

    def list(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        return self._store.list_keys()

    def revoke(self, name: str) -> bool:
        """Revoke the named active key; False when there is none."""
        return self._store.revoke_key(name, self._clock())


def key_view(record: ApiKeyRecord) -> KeyView:
    """The public view of a key (never its hash or secret)."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "name": record.name,
        "prefix": record.prefix,
        "models": None if record.models is None else list(record.models),
        "created_at": iso(record.created_at),
        "last_used_at": iso(record.last_used_at),
        "revoked_at": iso(record.revoked_at),
        "expires_at": iso(record.expires_at),
    }
