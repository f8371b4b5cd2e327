from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from imagegate.accounting.ports import KeyStore, LedgerStore
from imagegate.store import SqlKeyStore, SqlLedgerStore, make_engine, normalize_url

from .fixtures import SKIP_PG_ENV, require_postgres


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p%40ss@db:5432/ig", "postgresql+psycopg://u:p%40ss@db:5432/ig"),
        ("postgresql://u@db/ig?sslmode=require", "postgresql+psycopg://u@db/ig?sslmode=require"),
        ("postgres+psycopg://u@db/ig", "postgresql+psycopg://u@db/ig"),
        ("postgresql+psycopg2://u@db/ig", "postgresql+psycopg2://u@db/ig"),
        ("sqlite:///data/ig.db", "sqlite:///data/ig.db"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


def test_postgres_url_gets_psycopg_and_a_server_pool() -> None:
    engine = make_engine("postgres://u@127.0.0.1:1/ig", pool_size=3)  # never connects
    try:
        assert engine.dialect.driver == "psycopg"
        assert isinstance(engine.pool, sa.pool.QueuePool) and engine.pool.size() == 3
        assert engine.pool._pre_ping
    finally:
        engine.dispose()


def test_sqlite_file_engine_is_tuned_and_creates_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "ig.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        assert pragmas == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 5000, "foreign_keys": 1}
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_savepoints_really_roll_back(tmp_path: Path) -> None:
    # Without SQLAlchemy emitting BEGIN, the sqlite3 module would run SAVEPOINT outside any
    # transaction and the inner rollback would not undo the insert.
    engine = make_engine(f"sqlite:///{tmp_path / 'sp.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with engine.connect() as conn:
            with conn.begin():
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                savepoint = conn.begin_nested()
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
                savepoint.rollback()
            assert conn.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_one_database_across_checkouts() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        engine.dispose()


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        make_engine("mysql://u@db/ig")


def test_unreachable_postgres_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SKIP_PG_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"(?s)unreachable.*IMAGEGATE_TEST_SKIP_PG"):
        require_postgres(
            URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=1, database="postgres")
        )


def test_unreachable_postgres_skips_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SKIP_PG_ENV, "1")
    with pytest.raises(pytest.skip.Exception):
        require_postgres(
            URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=1, database="postgres")
        )


@pytest.mark.parametrize(("port", "impl"), [(KeyStore, SqlKeyStore), (LedgerStore, SqlLedgerStore)])
def test_stores_match_their_port_signatures(port: type, impl: type) -> None:
    methods = [name for name, value in vars(port).items() if not name.startswith("_") and callable(value)]
    assert methods
    for name in methods:
        expected = inspect.signature(getattr(port, name))
        actual = inspect.signature(getattr(impl, name))
        assert list(actual.parameters) == list(expected.parameters), name
        for param in expected.parameters.values():
            assert actual.parameters[param.name].kind == param.kind, (name, param.name)
            assert actual.parameters[param.name].default == param.default, (name, param.name)
