"""Alembic environment for imagegate, configured from code (no alembic.ini at runtime).

``imagegate.store.migrate.upgrade_database`` hands over an open connection in
``config.attributes["connection"]`` after taking the cross-replica lock. Without one (a developer
running ``alembic revision --autogenerate`` with an ad-hoc ini), ``sqlalchemy.url`` is used.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from imagegate.store.database import make_engine, normalize_url
from imagegate.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=sqlite,
        # Our SQLite engines emit BEGIN themselves, so DDL is transactional there too: a failed
        # upgrade leaves the file at the old revision instead of half-migrated.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            # Foreign keys are off while batch mode copies tables (see migrate.py); check
            # that the copies still satisfy them before committing.
            problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"migration broke foreign keys: {problems!r}")


def _run_offline() -> None:
    context.configure(
        url=normalize_url(config.get_main_option("sqlalchemy.url") or ""),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: use imagegate.store.migrate.upgrade_database(url)")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()
