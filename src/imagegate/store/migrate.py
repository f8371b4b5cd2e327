"""Run the packaged Alembic migrations from code: no alembic.ini, safe with many replicas.

On PostgreSQL the upgrade holds a session-level advisory lock, so replicas starting together
queue up: the first migrates, the rest find the database already at head. On SQLite the upgrade
runs in one ``BEGIN IMMEDIATE`` transaction with foreign keys suspended (SQLite's documented
procedure for table rebuilds), then checked before commit.
"""

from __future__ import annotations

import threading

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine

from imagegate.store.database import SQLITE_BEGIN_IMMEDIATE, Bind, connect, make_engine

SCRIPT_LOCATION = "imagegate.store:migrations"

# Arbitrary but fixed bigint key ("imagegat" in ASCII). Advisory locks are scoped to the current
# database, so databases sharing a server (one per test worker, say) never contend.
PG_MIGRATION_LOCK_ID = int.from_bytes(b"imagegat", "big")


# Alembic keeps the running migration in module globals (``alembic.context``, ``alembic.op``),
# so within one process only one migration may run at a time; across processes the database
# locks below take over.
_IN_PROCESS = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the packaged migrations, optionally bound to ``connection``.

    Use it for Alembic commands this module does not wrap (``command.downgrade``,
    ``command.history``); ``env.py`` runs on ``connection`` when one is given.
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found in the imagegate package")
    return head


def current_revision(bind: Bind) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with connect(bind) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_database(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: head); a no-op when already there.

    Given a URL, a short-lived engine is created and disposed of. Safe to call from several
    processes (replicas) or threads at once against the same database.
    """
    if isinstance(engine_or_url, Engine):
        _upgrade(engine_or_url, revision)
        return
    engine = make_engine(engine_or_url, pool_size=1, max_overflow=0)
    try:
        _upgrade(engine, revision)
    finally:
        engine.dispose()


def _upgrade(engine: Engine, revision: str) -> None:
    backend = engine.dialect.name
    with _IN_PROCESS, engine.connect() as conn:
        if backend == "postgresql":
            _run_locked_postgresql(conn, revision)
        elif backend == "sqlite":
            _run_sqlite(conn, revision)
        else:
            command.upgrade(alembic_config(conn), revision)


def _run_locked_postgresql(conn: Connection, revision: str) -> None:
    # Session-level, not transaction-level: a future migration using autocommit_block() commits
    # mid-run, and the lock must outlive that.
    conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": PG_MIGRATION_LOCK_ID})
    conn.commit()
    try:
        command.upgrade(alembic_config(conn), revision)
    finally:
        conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": PG_MIGRATION_LOCK_ID})
        conn.commit()


def _run_sqlite(conn: Connection, revision: str) -> None:
    # PRAGMA foreign_keys is ignored inside a transaction, so it goes straight to the driver
    # (SQLAlchemy would autobegin first).
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
        command.upgrade(alembic_config(conn), revision)
    finally:
        conn.rollback()
        raw.execute("PRAGMA foreign_keys=ON")
