"""Engines for the two supported backends, and the transaction seam the stores share.

SQLite (the one-laptop default) is tuned for a server process: WAL so readers never block the
writer, ``synchronous=NORMAL`` (durable at checkpoints, safe against corruption under WAL), a busy
timeout so concurrent writers wait instead of failing, and foreign keys on. SQLAlchemy, not the
``sqlite3`` module, emits ``BEGIN`` so that SAVEPOINTs and transactional DDL behave as they do on
PostgreSQL.

PostgreSQL goes through psycopg 3: ``postgres://`` and ``postgresql://`` URLs (as most hosting
platforms hand them out) are rewritten to ``postgresql+psycopg://``; an explicit driver is kept.

Stores take a ``Bind``: an ``Engine`` (production: each call is its own transaction) or a
``Connection`` (tests, or a caller composing several calls: each call becomes a SAVEPOINT inside
the caller's transaction, which the caller commits or rolls back).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

Bind = Engine | Connection

SQLITE_BUSY_TIMEOUT_MS = 5_000

# Execution option: open the SQLite transaction with BEGIN IMMEDIATE (take the write lock up
# front). Migrations use it so two processes upgrading the same file serialise instead of the
# loser failing with SQLITE_BUSY_SNAPSHOT when it upgrades its read snapshot to a write.
SQLITE_BEGIN_IMMEDIATE = "imagegate_sqlite_begin_immediate"


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and point any PostgreSQL URL without an explicit driver at psycopg 3.

    ``postgres://`` (Heroku style) and ``postgresql://`` become ``postgresql+psycopg://``;
    ``postgres+DRIVER://`` becomes ``postgresql+DRIVER://``. Other URLs are returned parsed.
    """
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=f"postgresql+{driver or 'psycopg'}")
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    """True for an in-memory SQLite URL (``sqlite://`` or ``sqlite:///:memory:``)."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (database in ("", ":memory:") or "mode=memory" in database)


def make_engine(
    url: str | URL,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    pool_recycle: int = 1800,
    connect_timeout: int = 10,
    application_name: str = "imagegate",
    **engine_kwargs: Any,
) -> Engine:
    """Create an ``Engine`` for a SQLite or PostgreSQL URL, tuned for a long-running server.

    The pool arguments apply to PostgreSQL and file-based SQLite unless ``poolclass`` is given;
    in-memory SQLite uses a single shared connection (tests and throwaway runs only: it is not
    safe for concurrent threads).
    ``engine_kwargs`` pass straight to ``sqlalchemy.create_engine`` and win over the defaults.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(
            parsed,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            **engine_kwargs,
        )
    if backend == "postgresql":
        options: dict[str, Any] = {
            "echo": echo,
            **_pool_sizing(engine_kwargs, pool_size, max_overflow, pool_timeout),
            # Load balancers and PgBouncer drop idle connections; recycle before they do and
            # ping on checkout so a restarted server costs one retry, not a failed request.
            "pool_recycle": pool_recycle,
            "pool_pre_ping": True,
            "connect_args": {
                "connect_timeout": connect_timeout,
                "application_name": application_name,
            },
        }
        options.update(engine_kwargs)
        return sa.create_engine(parsed, **options)
    raise ValueError(f"unsupported database backend {backend!r}: use sqlite or postgresql")


def _sqlite_engine(
    url: URL, *, echo: bool, pool_size: int, max_overflow: int, pool_timeout: float, **engine_kwargs: Any
) -> Engine:
    options: dict[str, Any] = {"echo": echo}
    if is_memory_sqlite(url):
        # One connection shared by everyone, or every checkout would see a different database.
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        url = _prepare_sqlite_file(url)
        options.update(_pool_sizing(engine_kwargs, pool_size, max_overflow, pool_timeout))
    options.update(engine_kwargs)
    engine = sa.create_engine(url, **options)
    _install_sqlite_hooks(engine)
    return engine


def _pool_sizing(
    engine_kwargs: dict[str, Any], pool_size: int, max_overflow: int, pool_timeout: float
) -> dict[str, Any]:
    # A caller choosing its own pool class (NullPool behind PgBouncer, say) gets no sizing
    # arguments, which that pool would reject.
    if "poolclass" in engine_kwargs or "pool" in engine_kwargs:
        return {}
    return {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}


def _prepare_sqlite_file(url: URL) -> URL:
    database = url.database or ""
    if database.startswith("file:"):
        # A URI filename (``?uri=true``) is the operator's exact instruction; leave it alone.
        return url
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return url.set(database=str(path))


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the sqlite3 module from issuing BEGIN on its own; _on_begin below does it, which
        # makes SAVEPOINT and DDL transactional (the module would otherwise commit around them).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(SQLITE_BEGIN_IMMEDIATE) else "BEGIN")


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    # WAL is a property of the file, so it only needs setting once. Switching needs an
    # exclusive lock and SQLite does not run the busy handler for it: two processes opening a
    # new file at once get SQLITE_BUSY at once. Retry ourselves, within the busy timeout.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] in ("wal", "memory"):
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def begin(bind: Bind) -> Iterator[Connection]:
    """A connection inside a transaction that commits on success and rolls back on error.

    Given an ``Engine``, this is a fresh transaction. Given a ``Connection``, it is a SAVEPOINT
    in the caller's transaction: an error undoes only this unit (PostgreSQL would otherwise
    poison the whole outer transaction), and success is committed when the caller commits.
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        with bind.begin_nested():
            yield bind


@contextmanager
def connect(bind: Bind) -> Iterator[Connection]:
    """A connection for reads: a pooled, rolled-back one for an ``Engine``; a ``Connection`` as is."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            yield conn
    else:
        yield bind
