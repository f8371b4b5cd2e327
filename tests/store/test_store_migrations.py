from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Engine

from imagegate.store import (
    SqlKeyStore,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade_database,
)
from imagegate.store.migrate import PG_MIGRATION_LOCK_ID
from imagegate.store.schema import metadata

from .fixtures import throwaway_pg_database

APP_TABLES = {
    "api_keys",
    "compare_runs",
    "compare_cells",
    "ledger",
    "pending_attempts",
    "image_feedback",
    "route_controls",
    "alias_policies",
    "routing_changes",
    "route_status",
    "teams",
    "admission_spend",
    "admission_holds",
    "usage_alerts",
    "image_jobs",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "batches",
}


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_from_empty_to_head(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    assert _tables(empty_engine) == set()

    upgrade_database(empty_engine)

    assert current_revision(empty_engine) == head_revision() == "0012"
    assert _tables(empty_engine) == APP_TABLES | {"alembic_version"}


def test_upgrade_twice_keeps_data(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)
    SqlKeyStore(empty_engine).create_key(name="kept", prefix="ig-x", key_hash="a" * 64, models=None)

    upgrade_database(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    assert [k.name for k in SqlKeyStore(empty_engine).list_keys()] == ["kept"]


def test_migrated_schema_matches_the_table_modules(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_downgrade_to_base_then_upgrade_again(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)
    with empty_engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")

    assert current_revision(empty_engine) is None
    assert _tables(empty_engine) == {"alembic_version"}

    upgrade_database(empty_engine)
    assert current_revision(empty_engine) == head_revision()


def test_upgrade_accepts_a_url_string(empty_db_url: URL) -> None:
    url = empty_db_url
    if url.get_backend_name() == "postgresql":
        # The bare scheme hosting platforms hand out; it must be routed to psycopg 3.
        url = url.set(drivername="postgresql")
    upgrade_database(url.render_as_string(hide_password=False))

    engine = sa.create_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_concurrent_upgrades_both_succeed(empty_db_url: URL) -> None:
    # Two replicas booting at once, each with its own engine (as separate processes would).
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def boot() -> None:
        try:
            barrier.wait(timeout=10)
            upgrade_database(empty_db_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=boot) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    engine = sa.create_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_concurrent_upgrades_from_separate_processes(empty_db_url: URL) -> None:
    # Real replicas share no Python state, so only the database's own locking keeps them apart.
    script = "import sys; from imagegate.store import upgrade_database; upgrade_database(sys.argv[1])"
    url = empty_db_url.render_as_string(hide_password=False)
    procs = [subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(proc.wait(timeout=60), proc.communicate()[1]) for proc in procs]

    assert [code for code, _ in outcomes] == [0, 0], outcomes
    engine = sa.create_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_upgrade_waits_for_the_migration_lock(pg_server: URL) -> None:
    with throwaway_pg_database(pg_server, prefix="imagegate_lock", migrate=False) as url:
        holder = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with holder.connect() as lock_conn:
                lock_conn.execute(sa.select(sa.func.pg_advisory_lock(PG_MIGRATION_LOCK_ID)))
                lock_conn.commit()
                worker = threading.Thread(target=upgrade_database, args=(url,))
                worker.start()
                worker.join(timeout=0.5)

                assert worker.is_alive(), "upgrade ran while another replica held the lock"
                assert current_revision(holder) is None

                lock_conn.execute(sa.select(sa.func.pg_advisory_unlock(PG_MIGRATION_LOCK_ID)))
                lock_conn.commit()
            worker.join(timeout=30)
            assert not worker.is_alive()
            assert current_revision(holder) == head_revision()
        finally:
            holder.dispose()


def test_sqlite_upgrade_restores_foreign_keys_on_the_pooled_connection(tmp_path) -> None:
    # One pooled connection, so the next checkout is the one the migration used.
    engine = make_engine(f"sqlite:///{tmp_path / 'fk.db'}", pool_size=1, max_overflow=0)
    try:
        upgrade_database(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
