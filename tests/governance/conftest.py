"""Governance tests: both database backends, as in tests/store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL, Engine

from imagegate.store.database import make_engine
from tests.store.fixtures import migrated_sqlite_engine, require_postgres, throwaway_pg_database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """A migrated database of each backend, for this test alone (writes are committed)."""
    if request.param == "sqlite":
        engine = migrated_sqlite_engine(tmp_path / "gov.db")
        yield engine
        engine.dispose()
        return
    server: URL = require_postgres()
    with throwaway_pg_database(server, prefix="imagegate_gov") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()
