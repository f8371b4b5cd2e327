from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from imagegate.accounting.keys import generate_key, hash_key
from imagegate.accounting.ports import DuplicateKeyName
from imagegate.store import SqlKeyStore, upgrade_database
from imagegate.store.governance_tables import api_keys

from .fixtures import TickingClock

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


def _create(store: SqlKeyStore, name: str, models: list[str] | None = None, **kwargs):
    new = generate_key()
    return store.create_key(name=name, prefix=new.prefix, key_hash=new.key_hash, models=models, **kwargs)


def test_create_returns_the_stored_record(key_store: SqlKeyStore, clock: TickingClock) -> None:
    expires = T0 + timedelta(days=30)
    record = key_store.create_key(
        name="alice",
        prefix="ig-abcdefg",
        key_hash=hash_key("s"),
        models=["gpt-image-1", "imagen-4"],
        expires_at=expires,
    )

    assert record.id > 0
    assert (record.name, record.prefix, record.key_hash) == ("alice", "ig-abcdefg", hash_key("s"))
    assert record.models == ("gpt-image-1", "imagen-4")
    assert record.created_at == clock.now
    assert record.expires_at == expires
    assert (record.last_used_at, record.revoked_at) == (None, None)
    assert record.active
    assert key_store.key_by_hash(hash_key("s")) == record


def test_models_none_is_sql_null_and_empty_list_stays_empty(key_store: SqlKeyStore, conn: Connection) -> None:
    # None means "every model"; [] means "no model". Confusing them would be a security bug.
    everything = _create(key_store, "all-models", models=None)
    nothing = _create(key_store, "no-models", models=[])

    assert key_store.key_by_hash(everything.key_hash).models is None
    assert key_store.key_by_hash(nothing.key_hash).models == ()
    null_names = conn.execute(sa.select(api_keys.c.name).where(api_keys.c.models.is_(None))).scalars().all()
    assert null_names == ["all-models"]


def test_duplicate_name_raises_and_leaves_the_transaction_usable(key_store: SqlKeyStore) -> None:
    first = _create(key_store, "dup")

    with pytest.raises(DuplicateKeyName):
        _create(key_store, "dup")

    # On PostgreSQL a failed statement poisons the transaction unless its savepoint is undone.
    later = _create(key_store, "after")
    assert [k.name for k in key_store.list_keys()] == ["dup", "after"]
    assert key_store.key_by_hash(first.key_hash) == first
    assert later.active


def test_duplicate_hash_is_not_reported_as_a_duplicate_name(key_store: SqlKeyStore) -> None:
    key_store.create_key(name="one", prefix="ig-1", key_hash="b" * 64, models=None)
    with pytest.raises(sa.exc.IntegrityError):
        key_store.create_key(name="two", prefix="ig-2", key_hash="b" * 64, models=None)


def test_key_hash_must_be_64_characters(key_store: SqlKeyStore) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        key_store.create_key(name="short", prefix="ig-", key_hash="c" * 63, models=None)


def test_lookup_unknown_hash_returns_none(key_store: SqlKeyStore) -> None:
    _create(key_store, "someone")
    assert key_store.key_by_hash(hash_key("never issued")) is None
    assert key_store.key_by_name("nobody") is None


def test_list_is_oldest_first_by_creation_time(conn: Connection, clock: TickingClock) -> None:
    store = SqlKeyStore(conn, clock=clock)
    _create(store, "middle")
    clock.now = T0 - timedelta(days=1)  # the next key gets an earlier timestamp but a larger id
    _create(store, "oldest")
    clock.now = T0 + timedelta(days=1)
    _create(store, "newest")

    assert [k.name for k in store.list_keys()] == ["oldest", "middle", "newest"]


def test_revoke_only_an_active_key(key_store: SqlKeyStore) -> None:
    key = _create(key_store, "to-revoke")
    first_at = T0 + timedelta(hours=1)

    assert key_store.revoke_key("to-revoke", first_at) is True
    assert key_store.revoke_key("to-revoke", first_at + timedelta(hours=1)) is False
    assert key_store.revoke_key("unknown", first_at) is False

    revoked = key_store.key_by_hash(key.key_hash)
    assert revoked is not None and not revoked.active
    assert revoked.revoked_at == first_at  # the second call must not move it


def test_revoke_touches_only_the_named_key(key_store: SqlKeyStore) -> None:
    _create(key_store, "a")
    other = _create(key_store, "b")
    key_store.revoke_key("a", T0)
    assert key_store.key_by_hash(other.key_hash).active


def test_touch_updates_many_keys_and_only_moves_forward(key_store: SqlKeyStore) -> None:
    a, b, c = (_create(key_store, name) for name in "abc")
    key_store.touch_keys({a.id: T0, b.id: T0 + timedelta(minutes=5)})
    # A late batch from another replica carrying an older time for b, plus an unknown id.
    key_store.touch_keys({b.id: T0, c.id: T0 + timedelta(minutes=1), 999_999: T0})
    key_store.touch_keys({})

    used = {k.name: k.last_used_at for k in key_store.list_keys()}
    assert used == {"a": T0, "b": T0 + timedelta(minutes=5), "c": T0 + timedelta(minutes=1)}


def test_datetimes_come_back_as_aware_utc(key_store: SqlKeyStore, conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # psycopg returns timestamptz in the session zone; the store must still hand back UTC.
        conn.exec_driver_sql("SET TIME ZONE 'Asia/Kolkata'")
    expires = datetime(2025, 7, 1, 9, 30, tzinfo=IST)
    key = _create(key_store, "tz", expires_at=expires)
    key_store.touch_keys({key.id: datetime(2025, 6, 2, 1, 0, tzinfo=IST)})

    stored = key_store.key_by_hash(key.key_hash)
    assert stored is not None
    for value in (stored.created_at, stored.expires_at, stored.last_used_at):
        assert value is not None and value.tzinfo == UTC
    assert stored.expires_at == expires
    assert stored.expires_at.hour == 4  # 09:30 +05:30 is 04:00 UTC
    assert stored.last_used_at == datetime(2025, 6, 1, 19, 30, tzinfo=UTC)


def test_naive_datetimes_are_rejected(key_store: SqlKeyStore) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        _create(key_store, "naive", expires_at=datetime(2025, 1, 1))


def test_engine_bound_store_commits_each_call(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)
    store = SqlKeyStore(empty_engine)
    key = _create(store, "committed")
    with pytest.raises(DuplicateKeyName):
        _create(store, "committed")
    assert store.revoke_key("committed", T0) is True

    # A fresh store sees the key and its revocation: both calls committed.
    seen = SqlKeyStore(empty_engine).key_by_hash(key.key_hash)
    assert seen is not None and seen.revoked_at == T0
