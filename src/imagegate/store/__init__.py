"""Persistence for accounting's ports: SQLAlchemy Core on SQLite or PostgreSQL, Alembic migrations.

Imported only by ``app.py`` and the CLI. Typical wiring::

    engine = make_engine(settings.database_url)     # sqlite:///... or postgresql://...
    upgrade_database(engine)                        # idempotent, replica-safe
    keys, ledger = SqlKeyStore(engine), SqlLedgerStore(engine)
"""

from imagegate.store.database import Bind, begin, connect, make_engine, normalize_url
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    upgrade_database,
)
from imagegate.store.teams import SqlTeamStore

__all__ = [
    "Bind",
    "SqlKeyStore",
    "SqlLedgerStore",
    "SqlTeamStore",
    "alembic_config",
    "begin",
    "connect",
    "current_revision",
    "head_revision",
    "make_engine",
    "normalize_url",
    "upgrade_database",
]
