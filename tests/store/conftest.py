"""Every store test runs on both backends: a migrated SQLite file and a throwaway PostgreSQL
database, one of each per xdist worker, each test's writes rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import URL, Connection, Engine

from imagegate.store import SqlKeyStore, SqlLedgerStore, make_engine

from .fixtures import (
    TickingClock,
    migrated_sqlite_engine,
    require_postgres,
    rolled_back_connection,
    throwaway_pg_database,
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pg_server() -> URL:
    """The reachable PostgreSQL server (fails the requesting test with a clear message if not)."""
    return require_postgres()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("store") / "imagegate.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_engine(pg_server: URL) -> Iterator[Engine]:
    with throwaway_pg_database(pg_server) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """The shared migrated engine of each backend in turn. Do not commit through it."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with rolled_back_connection(engine) as connection:
        yield connection


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def key_store(conn: Connection, clock: TickingClock) -> SqlKeyStore:
    return SqlKeyStore(conn, clock=clock)


@pytest.fixture
def ledger_store(conn: Connection) -> SqlLedgerStore:
    return SqlLedgerStore(conn)


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[URL]:
    """A database of each backend that nothing has touched: for migration and commit tests."""
    if request.param == "sqlite":
        yield URL.create("sqlite", database=str(tmp_path / "fresh.db"))
        return
    server = request.getfixturevalue("pg_server")
    with throwaway_pg_database(server, prefix="imagegate_fresh", migrate=False) as url:
        yield url


@pytest.fixture
def empty_engine(empty_db_url: URL) -> Iterator[Engine]:
    engine = make_engine(empty_db_url)
    yield engine
    engine.dispose()
