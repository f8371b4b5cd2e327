"""Live routing across replicas: a change made through one gateway steers another over the same
database within the refresh interval, without a restart; rollback restores; the log has it all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.engine import Engine

from imagegate.store.database import make_engine
from tests.store.fixtures import migrated_sqlite_engine, require_postgres, throwaway_pg_database
from tests.support.gateway import GatewayHandle, running_gateway

MASTER = "mk-replicas-0b7e"
REFRESH_S = 0.1
FIRST, SECOND = "live/openai/gpt-image-2", "live/openai/gpt-image-2.5-flare"


def _config(sandbox_url: str) -> dict:
    return {
        "models": [
            {
                "name": "live",
                "routes": [
                    {"provider": "openai", "model": model, "base_url": f"{sandbox_url}/v1", "api_key": "sk-x"}
                    for model in ("gpt-image-2", "gpt-image-2.5-flare")
                ],
            }
        ]
    }


@contextmanager
def _engines(backend: str, tmp_path) -> Iterator[tuple[Engine, Engine]]:
    # Two engines, as two replica processes would have: nothing shared but the database.
    if backend == "sqlite":
        path = tmp_path / "shared.db"
        engines = (migrated_sqlite_engine(path), make_engine(f"sqlite:///{path}"))
        yield engines
    else:
        with throwaway_pg_database(require_postgres(), prefix="imagegate_live") as url:
            engines = (make_engine(url), make_engine(url))
            yield engines
    for engine in engines:
        engine.dispose()


def _served_by(handle: GatewayHandle, secret: str) -> str:
    response = httpx.post(
        handle.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "live", "prompt": "x", "size": "1024x1024", "quality": "low"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    [row] = handle.ledger(response.headers["x-request-id"])
    return row.route


def _wait_for_version(handle: GatewayHandle, version: int) -> float:
    started = time.monotonic()
    while handle.runtime.controls.current.version != version:
        assert time.monotonic() - started < 10, "the replica never picked up the change"
        time.sleep(0.02)
    return time.monotonic() - started


def _post(handle: GatewayHandle, path: str) -> dict:
    response = httpx.post(handle.url + path, headers={"authorization": f"Bearer {MASTER}", "x-imagegate-actor": "e2e"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_change_on_one_replica_steers_the_other_and_rollback_restores_it(backend, sandbox_url, tmp_path):
    with (
        _engines(backend, tmp_path) as (engine_a, engine_b),
        running_gateway(engine_a, _config(sandbox_url), master_key=MASTER, controls_refresh_s=REFRESH_S) as a,
        running_gateway(engine_b, _config(sandbox_url), master_key=MASTER, controls_refresh_s=REFRESH_S) as b,
    ):
        secret = b.create_key("client")
        assert _served_by(b, secret) == FIRST

        disabled = _post(a, f"/admin/routes/{quote(FIRST, safe='')}/disable")
        # Within the refresh interval, plus scheduling slack for a loaded test machine.
        assert _wait_for_version(b, disabled["id"]) < REFRESH_S + 1.5
        assert not b.runtime.controls.current.enabled(FIRST)
        assert _served_by(b, secret) == SECOND

        rolled = _post(a, "/admin/aliases/live/rollback")
        _wait_for_version(b, rolled["id"])
        assert b.runtime.controls.current.enabled(FIRST)
        assert _served_by(b, secret) == FIRST

        log = httpx.get(b.url + "/admin/routing-changes", headers={"authorization": f"Bearer {MASTER}"}).json()["data"]
        assert [(c["action"], c["route"], c["actor"]) for c in log] == [
            ("rollback", FIRST, "api:e2e"),
            ("disable", FIRST, "api:e2e"),
        ]
        assert log[0]["reverts"] == disabled["id"] and log[0]["after"] == {"enabled": None, "weight": None}


def test_a_restarted_replica_starts_with_the_stored_controls(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "restart.db")
    with running_gateway(engine, _config(sandbox_url), master_key=MASTER, controls_refresh_s=60) as first:
        policy = httpx.post(
            first.url + "/admin/aliases/live/policy",
            json={"policy": "fastest"},
            headers={"authorization": f"Bearer {MASTER}"},
        ).json()
        assert policy["after"] == {"policy": "fastest"}
    # A refresh interval far longer than the test: only the load at startup can explain the snapshot.
    with running_gateway(engine, _config(sandbox_url), controls_refresh_s=60) as second:
        assert second.runtime.controls.current.version == policy["id"]
        assert second.runtime.controls.current.policy("live", "priority") == "fastest"
    engine.dispose()


def test_scheduled_smoke_checks_fill_route_status_and_pricing(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "smoke.db")
    with running_gateway(engine, _config(sandbox_url), smoke_interval_s=0.1, public_route_health=True) as handle:
        started = time.monotonic()
        while len(handle.runtime.routing.checks()) < 2:
            assert time.monotonic() - started < 10, "no scheduled smoke check ran"
            time.sleep(0.02)
        checks = handle.runtime.routing.checks()
        assert {check.status for check in checks.values()} == {"available"}
        rows = {row["route"]: row for row in httpx.get(handle.url + "/api/pricing").json()["models"] if row["served"]}
        assert rows[FIRST]["status"] == "available" and rows[FIRST]["last_checked_at"] is not None
        admin_view = handle.runtime.routing.overview(handle.runtime.health)[0]["routes"][1]
        assert admin_view["status"] == "available" and admin_view["last_check"]["provider_request_id"]
        smoke_rows = [row for row in handle.ledger() if row.key_name == "smoke"]
        assert {row.route for row in smoke_rows} == {FIRST, SECOND} and all(
            row.dialect == "smoke" for row in smoke_rows
        )
    engine.dispose()
