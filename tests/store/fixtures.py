"""Database helpers for tests anywhere in the repo: migrated SQLite files, throwaway PostgreSQL
databases, and connections whose work is rolled back.

Plain functions and context managers (not pytest fixtures), so any conftest can wrap them with the
scope it needs; ``tests/store/conftest.py`` shows the intended wiring.

PostgreSQL comes from ``IMAGEGATE_TEST_PG_URL`` (a server URL whose database is the maintenance
database). When it is unreachable, ``require_postgres`` fails the test with instructions, unless
``IMAGEGATE_TEST_SKIP_PG=1`` says to skip: a silently skipped backend is an untested backend.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from imagegate.store.database import make_engine, normalize_url
from imagegate.store.migrate import upgrade_database

PG_URL_ENV = "IMAGEGATE_TEST_PG_URL"
SKIP_PG_ENV = "IMAGEGATE_TEST_SKIP_PG"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class TickingClock:
    """A clock for ``SqlKeyStore(clock=...)``: each call is one second after the last, so
    creation order shows in timestamps. Set ``now`` to jump."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def pg_server_url() -> URL:
    """The PostgreSQL server to create test databases on (its database is the maintenance DB)."""
    return normalize_url(os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL)


def require_postgres(server_url: URL | None = None) -> URL:
    """Return the server URL if PostgreSQL answers; otherwise fail (or skip if opted out)."""
    url = server_url or pg_server_url()
    engine = make_engine(url, poolclass=sa.pool.NullPool, connect_timeout=3)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return url
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip()
    finally:
        engine.dispose()
    # Outside the except block, so the report shows this message rather than a driver traceback.
    shown = url.render_as_string(hide_password=True)
    if os.environ.get(SKIP_PG_ENV) == "1":
        pytest.skip(f"PostgreSQL at {shown} unreachable and {SKIP_PG_ENV}=1")
    pytest.fail(
        f"PostgreSQL at {shown} is unreachable ({reason}).\n"
        f"Start it (pg_ctlcluster --skip-systemctl-redirect <version> main start), point "
        f"{PG_URL_ENV} at a server, or set {SKIP_PG_ENV}=1 to skip PostgreSQL tests.",
        pytrace=False,
    )


def worker_id() -> str:
    """The pytest-xdist worker running this process (``gw0``...), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def migrated_sqlite_engine(path: Path) -> Engine:
    """An engine on a SQLite file at ``path``, migrated to head. Dispose of it when done."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    return engine


@contextmanager
def throwaway_pg_database(
    server_url: URL | None = None, *, prefix: str = "imagegate_test", migrate: bool = True
) -> Iterator[URL]:
    """Create a uniquely named database, yield its URL, then drop it (even with clients left).

    The name carries the xdist worker and a random suffix, so parallel workers and concurrent
    test runs on one server never share a database.
    """
    server = server_url or pg_server_url()
    name = f"{prefix}_{worker_id()}_{secrets.token_hex(4)}".lower()
    admin = make_engine(server, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = server.set(database=name)
        try:
            if migrate:
                upgrade_database(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextmanager
def rolled_back_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is always rolled back.

    Hand it to the stores: they turn each call into a SAVEPOINT inside this transaction, so a
    test sees its own writes (and recovers from expected errors) but nothing outlives it.
    """
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()
