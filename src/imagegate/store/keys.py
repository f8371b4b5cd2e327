"""``SqlKeyStore``: the accounting ``KeyStore`` port on SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from imagegate.accounting.ports import ApiKeyRecord, DuplicateKeyName, Role, TeamRecord, UnknownTeam
from imagegate.domain.limits import Limits
from imagegate.store.database import Bind, begin, connect
from imagegate.store.governance_tables import api_keys, teams
from imagegate.store.teams import team_record

# A key row with its team's columns alongside (``team__<column>``), in one round trip.
_TEAM_COLUMNS = [column.label(f"team__{column.name}") for column in teams.c]
_WITH_TEAM = sa.select(api_keys, *_TEAM_COLUMNS).select_from(
    api_keys.outerjoin(teams, api_keys.c.team_id == teams.c.id)
)


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
        team_id: int | None = None,
        role: Role = "client",
        limits: Limits | None = None,
        tags: dict[str, str] | None = None,
        allowed_dialects: Sequence[str] | None = None,
    ) -> ApiKeyRecord:
        """Store a new key; raises ``DuplicateKeyName`` if the name is taken, ``UnknownTeam``
        if ``team_id`` names no team."""
        values: dict[str, Any] = {
            "name": name,
            "prefix": prefix,
            "key_hash": key_hash,
            "models": None if models is None else list(models),
            "created_at": self._clock(),
            "expires_at": expires_at,
            "team_id": team_id,
            "role": role,
            "limits": None if limits is None else limits.to_dict(),
            "tags": None if tags is None else dict(tags),
            "allowed_dialects": None if allowed_dialects is None else list(allowed_dialects),
        }
        try:
            with begin(self._bind) as conn:
                conn.execute(sa.insert(api_keys).values(**values))
        except IntegrityError as exc:
            # Let the unique constraint arbitrate concurrent creators, then find out which
            # constraint fired by looking, rather than by parsing driver-specific messages.
            if self._name_exists(name):
                raise DuplicateKeyName(name) from exc
            if team_id is not None and not self._team_exists(team_id):
                raise UnknownTeam(str(team_id)) from exc
            raise
        created = self.key_by_name(name)
        assert created is not None
        return created

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        """The key whose current (or, in a rotation's grace, previous) secret hashes to
        ``key_hash``, revoked or not, with its team. The caller checks ``previous_valid_until``."""
        condition = sa.or_(api_keys.c.key_hash == key_hash, api_keys.c.previous_key_hash == key_hash)
        with connect(self._bind) as conn:
            row = conn.execute(_WITH_TEAM.where(condition).order_by(api_keys.c.id).limit(1)).one_or_none()
        return None if row is None else _record(row._mapping)

    def key_by_name(self, name: str) -> ApiKeyRecord | None:
        """The key called ``name``, revoked or not (for the CLI and admin views)."""
        with connect(self._bind) as conn:
            row = conn.execute(_WITH_TEAM.where(api_keys.c.name == name)).one_or_none()
        return None if row is None else _record(row._mapping)

    def list_keys(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        with connect(self._bind) as conn:
            rows = conn.execute(_WITH_TEAM.order_by(api_keys.c.created_at, api_keys.c.id)).all()
        return [_record(row._mapping) for row in rows]

    def update_key(self, name: str, **changes: Any) -> ApiKeyRecord | None:
        """Set the given columns of the named key (``limits`` as ``Limits``, ``tags`` as a dict);
        None when no key has that name."""
        values = dict(changes)
        if isinstance(values.get("limits"), Limits):
            values["limits"] = values["limits"].to_dict()
        unknown = set(values) - set(api_keys.c.keys())
        if unknown:
            raise ValueError(f"not key columns: {', '.join(sorted(unknown))}")
        with begin(self._bind) as conn:
            conn.execute(sa.update(api_keys).where(api_keys.c.name == name).values(**values))
        return self.key_by_name(name)

    def rotate_key(
        self, name: str, *, prefix: str, key_hash: str, previous_valid_until: datetime
    ) -> ApiKeyRecord | None:
        """Give the named active key a new secret; the old one stays valid until ``previous_valid_until``.

        None when no active key has that name. One UPDATE, so the new and previous hashes swap atomically.
        """
        stmt = (
            sa.update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(
                previous_key_hash=api_keys.c.key_hash,
                previous_valid_until=previous_valid_until,
                key_hash=key_hash,
                prefix=prefix,
            )
        )
        with begin(self._bind) as conn:
            if conn.execute(stmt).rowcount != 1:
                return None
        return self.key_by_name(name)

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

    def _team_exists(self, team_id: int) -> bool:
        with connect(self._bind) as conn:
            return conn.execute(sa.select(sa.literal(1)).where(teams.c.id == team_id)).first() is not None


def _team(row: Any) -> TeamRecord | None:
    if row["team__id"] is None:
        return None
    return team_record({column.name: row[f"team__{column.name}"] for column in teams.c})


def _record(row: Any) -> ApiKeyRecord:
    models = row["models"]
    tags = row["tags"]
    dialects = row["allowed_dialects"]
    thresholds = row["alert_thresholds"]
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
        team_id=row["team_id"],
        role=row["role"],
        limits=Limits.from_dict(row["limits"]),
        tags=() if tags is None else tuple(sorted((str(k), str(v)) for k, v in tags.items())),
        allowed_dialects=None if dialects is None else tuple(dialects),
        alert_thresholds=None if thresholds is None else tuple(thresholds),
        previous_key_hash=row["previous_key_hash"],
        previous_valid_until=row["previous_valid_until"],
        team=_team(row),
    )
