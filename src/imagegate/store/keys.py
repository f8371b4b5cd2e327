"""``SqlKeyStore``: the accounting ``KeyStore`` port on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from imagegate.accounting.ports import ApiKeyRecord, DuplicateKeyName
from imagegate.store.database import Bind, begin, connect
from imagegate.store.tables import api_keys


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqlKeyStore:
    """Virtual keys in the ``api_keys`` table.

    ``bind`` is an ``Engine`` (each call commits on its own) or a ``Connection`` (each call is a
    SAVEPOINT in the caller's transaction). ``clock`` stamps ``created_at``.
    """

    def __init__(self, bind: Bind, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._bind = bind
        self._clock = clock

    def create_key(
        self,
        *,
        name: str,
        prefix: str,
        key_hash: str,
        models: Sequence[str] | None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord:
        """Store a new key; raises ``DuplicateKeyName`` if the name is taken."""
        values: dict[str, Any] = {
            "name": name,
            "prefix": prefix,
            "key_hash": key_hash,
            "models": None if models is None else list(models),
            "created_at": self._clock(),
            "expires_at": expires_at,
        }
        try:
            with begin(self._bind) as conn:
                row = conn.execute(sa.insert(api_keys).values(**values).returning(*api_keys.c)).one()
        except IntegrityError as exc:
            # Let the unique constraint arbitrate concurrent creators, then find out which
            # constraint fired by looking, rather than by parsing driver-specific messages.
            if self._name_exists(name):
                raise DuplicateKeyName(name) from exc
            raise
        return _record(row._mapping)

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        """The key whose secret hashes to ``key_hash``, revoked or not."""
        with connect(self._bind) as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash)).one_or_none()
        return None if row is None else _record(row._mapping)

    def key_by_name(self, name: str) -> ApiKeyRecord | None:
        """The key called ``name``, revoked or not (for the CLI and admin views)."""
        with connect(self._bind) as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.name == name)).one_or_none()
        return None if row is None else _record(row._mapping)

    def list_keys(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        with connect(self._bind) as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)).all()
        return [_record(row._mapping) for row in rows]

    def revoke_key(self, name: str, at: datetime) -> bool:
        """Mark the named key revoked; False when no active key has that name."""
        # One conditional UPDATE: the first revocation time stands even if two admins race.
        stmt = sa.update(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None)).values(revoked_at=at)
        with begin(self._bind) as conn:
            return conn.execute(stmt).rowcount == 1

    def touch_keys(self, last_used: dict[int, datetime]) -> None:
        """Record ``last_used_at`` for several keys at once, in one transaction.

        ``last_used_at`` only moves forward, so replicas flushing batches out of order never
        make a key look older than it is.
        """
        if not last_used:
            return
        used_at = sa.bindparam("used_at", type_=api_keys.c.last_used_at.type)
        stmt = (
            sa.update(api_keys)
            .where(
                api_keys.c.id == sa.bindparam("key_id"),
                sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < used_at),
            )
            .values(last_used_at=used_at)
        )
        # Sorted ids give every replica the same row-lock order, so two batches cannot deadlock.
        params = [{"key_id": key_id, "used_at": last_used[key_id]} for key_id in sorted(last_used)]
        with begin(self._bind) as conn:
            conn.execute(stmt, params)

    def _name_exists(self, name: str) -> bool:
        with connect(self._bind) as conn:
            return conn.execute(sa.select(sa.literal(1)).where(api_keys.c.name == name)).first() is not None


def _record(row: Any) -> ApiKeyRecord:
    models = row["models"]
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        key_hash=row["key_hash"],
        models=None if models is None else tuple(models),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        expires_at=row["expires_at"],
    )
