from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from imagegate.accounting.ports import LedgerEntry
from imagegate.store import SqlKeyStore, SqlLedgerStore
from imagegate.store.ledger_tables import ledger

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _entry(**overrides) -> LedgerEntry:
    base = LedgerEntry(
        request_id="req-1",
        attempt=1,
        model="gpt-image-1",
        provider="openai",
        provider_model="gpt-image-1",
        route="openai/gpt-image-1",
        operation="generate",
        dialect="openai",
        status="ok",
        created_at=T0,
    )
    return replace(base, **overrides)


def test_full_entry_round_trips(key_store: SqlKeyStore, ledger_store: SqlLedgerStore) -> None:
    key = key_store.create_key(name="k", prefix="ig-k", key_hash="d" * 64, models=None)
    entry = _entry(
        key_id=key.id,
        key_name="k",
        status="error",
        error_code="rate_limited",
        http_status=429,
        images=2,
        cost_micros=12_345_678_901,
        cost_estimated=True,
        latency_ms=1500,
        provider_request_id="prov-7",
        stream=True,
        client_disconnected=True,
        usage={
            "input_tokens": 50,
            "output_tokens": {"image": 4160, "text": 0},
            "megapixels": 1.048576,
            "sizes": ["1024x1024"],
            "note": "café ☕",
            "none": None,
        },
    )
    ledger_store.append_entries([entry])

    assert ledger_store.query_entries() == [entry]


def test_defaults_round_trip(ledger_store: SqlLedgerStore) -> None:
    entry = _entry()
    ledger_store.append_entries([entry])
    (stored,) = ledger_store.query_entries()
    assert stored == entry
    assert stored.usage == {} and stored.key_id is None and stored.stream is False


def test_batch_is_all_or_nothing(ledger_store: SqlLedgerStore) -> None:
    good = _entry(request_id="good")
    orphan = _entry(request_id="orphan", key_id=424_242)  # no such key: foreign key violation

    with pytest.raises(sa.exc.IntegrityError):
        ledger_store.append_entries([good, orphan])

    assert ledger_store.query_entries() == []
    ledger_store.append_entries([good])
    assert [e.request_id for e in ledger_store.query_entries()] == ["good"]


def test_newest_first_with_id_breaking_ties(ledger_store: SqlLedgerStore) -> None:
    ledger_store.append_entries(
        [
            _entry(request_id="old", created_at=T0 - timedelta(minutes=1)),
            _entry(request_id="tie-first", created_at=T0),
            _entry(request_id="new", created_at=T0 + timedelta(minutes=1)),
            _entry(request_id="tie-second", created_at=T0),
        ]
    )
    order = [e.request_id for e in ledger_store.query_entries()]
    assert order == ["new", "tie-second", "tie-first", "old"]


def test_limit_keeps_the_newest(ledger_store: SqlLedgerStore) -> None:
    ledger_store.append_entries([_entry(request_id=f"r{i}", created_at=T0 + timedelta(seconds=i)) for i in range(5)])
    assert [e.request_id for e in ledger_store.query_entries(limit=2)] == ["r4", "r3"]
    with pytest.raises(ValueError):
        ledger_store.query_entries(limit=0)


def test_filters_combine(ledger_store: SqlLedgerStore) -> None:
    ledger_store.append_entries(
        [
            _entry(request_id="a1", attempt=1, key_name="alice", model="m1", created_at=T0),
            _entry(request_id="a1", attempt=2, key_name="alice", model="m2", created_at=T0 + timedelta(seconds=1)),
            _entry(request_id="b1", key_name="bob", model="m1", created_at=T0 + timedelta(hours=1)),
            _entry(request_id="c1", key_name=None, model="m1", created_at=T0 - timedelta(hours=1)),
        ]
    )

    def ids(**filters) -> list[tuple[str, int]]:
        return [(e.request_id, e.attempt) for e in ledger_store.query_entries(**filters)]

    assert ids(key_name="alice") == [("a1", 2), ("a1", 1)]
    assert ids(model="m1") == [("b1", 1), ("a1", 1), ("c1", 1)]
    assert ids(request_id="a1") == [("a1", 2), ("a1", 1)]
    assert ids(since=T0) == [("b1", 1), ("a1", 2), ("a1", 1)]  # since is inclusive
    assert ids(since=T0, model="m1", key_name="alice") == [("a1", 1)]
    assert ids(key_name="carol") == []


def test_since_compares_instants_across_time_zones(ledger_store: SqlLedgerStore, conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TIME ZONE 'America/Los_Angeles'")
    tokyo = timezone(timedelta(hours=9))
    ledger_store.append_entries(
        [
            _entry(request_id="before", created_at=T0 - timedelta(seconds=1)),
            _entry(request_id="at", created_at=T0.astimezone(tokyo)),
        ]
    )

    found = ledger_store.query_entries(since=T0.astimezone(timezone(timedelta(hours=-7))))
    assert [e.request_id for e in found] == ["at"]
    assert found[0].created_at == T0 and found[0].created_at.tzinfo == UTC


def test_writes_join_the_callers_transaction(engine: Engine, ledger_store: SqlLedgerStore) -> None:
    ledger_store.append_entries([_entry(request_id="uncommitted")])

    # Another connection must not see it: the store never commits a transaction it did not open.
    with engine.connect() as other:
        visible = other.execute(
            sa.select(sa.func.count()).select_from(ledger).where(ledger.c.request_id == "uncommitted")
        ).scalar()
    assert visible == 0
    assert len(ledger_store.query_entries(request_id="uncommitted")) == 1


def test_append_nothing_is_a_no_op(ledger_store: SqlLedgerStore) -> None:
    ledger_store.append_entries([])
    assert ledger_store.query_entries() == []


def test_offers_no_way_to_change_rows() -> None:
    public = {name for name in dir(SqlLedgerStore) if not name.startswith("_")}
    assert public == {"append_entries", "query_entries", "scan_entries"}
