"""``/readyz`` answers 503 while the database or Redis is unreachable; ``/healthz`` stays 200 (liveness)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from imagegate.store.database import make_engine
from tests.store.fixtures import migrated_sqlite_engine, require_postgres, throwaway_pg_database
from tests.store.redis_fixtures import REDIS_URL
from tests.support.gateway import free_port, running_gateway, sandbox_models_config


def _states(url: str) -> tuple[int, dict[str, str], int]:
    ready = httpx.get(url + "/readyz", timeout=10)
    return ready.status_code, ready.json()["checks"], httpx.get(url + "/healthz").status_code


@pytest.mark.postgres
def test_readyz_follows_a_postgres_database_that_stops_taking_connections(sandbox_url: str):
    server = require_postgres()
    with throwaway_pg_database(server, prefix="imagegate_ready") as url:
        name = url.database
        admin = make_engine(server, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        engine = make_engine(url)
        try:
            with running_gateway(engine, sandbox_models_config(sandbox_url, ["gpt-image-2"])) as gateway:
                assert _states(gateway.url) == (200, {"database": "ok"}, 200)
                with admin.connect() as conn:
                    # As good as stopped for this database: no new connections, existing ones cut.
                    conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    conn.exec_driver_sql(
                        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                    )
                try:
                    assert _states(gateway.url) == (503, {"database": "unavailable"}, 200)
                finally:
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                assert _states(gateway.url) == (200, {"database": "ok"}, 200)
        finally:
            engine.dispose()
            admin.dispose()


def test_readyz_is_503_while_redis_is_unreachable(sandbox_url: str, tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    config = sandbox_models_config(sandbox_url, ["gpt-image-2"])
    try:
        with running_gateway(engine, config, redis_url=f"redis://127.0.0.1:{free_port()}/0") as gateway:
            assert _states(gateway.url) == (503, {"database": "ok", "redis": "unavailable"}, 200)
        with running_gateway(engine, config, redis_url=REDIS_URL) as gateway:
            assert _states(gateway.url) == (200, {"database": "ok", "redis": "ok"}, 200)
    finally:
        engine.dispose()
