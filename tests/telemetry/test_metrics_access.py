"""``IMAGEGATE_METRICS``: open to scrapers by default, ``key`` asks for the master or an admin-read key, ``off`` is 404."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from imagegate.accounting.auth import Principal
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config

MASTER = "ig-master-metrics-access"


@pytest.fixture
def config(sandbox_url: str) -> dict:
    return sandbox_models_config(sandbox_url, ["gpt-image-2"])


def test_key_mode_accepts_the_master_key_and_admin_read_keys_only(config: dict, tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    with running_gateway(engine, config, master_key=MASTER, metrics="key") as gateway:
        client_key = gateway.create_key("a-client")
        reader_key = gateway.create_key("a-reader")
        authenticator = gateway.runtime.gateway.authenticator
        authenticate = authenticator.authenticate

        async def with_roles(secret: str | None) -> Principal:
            # Main has no admin-read keys yet (governance adds them): give this key the role here.
            principal = await authenticate(secret)
            return dataclasses.replace(principal, role="admin-read") if secret == reader_key else principal

        authenticator.authenticate = with_roles  # type: ignore[method-assign]
        url = gateway.url + "/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"authorization": "Bearer ig-unknown"}).status_code == 401
        assert httpx.get(url, headers={"authorization": f"Bearer {client_key}"}).status_code == 403
        for key in (MASTER, reader_key):
            answer = httpx.get(url, headers={"authorization": f"Bearer {key}"})
            assert answer.status_code == 200 and "imagegate_route_enabled" in answer.text
    engine.dispose()


def test_off_mode_has_no_endpoint_and_open_mode_needs_no_key(config: dict, tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    with running_gateway(engine, config, metrics="off") as gateway:
        assert httpx.get(gateway.url + "/metrics").status_code == 404
    with running_gateway(engine, config) as gateway:
        assert httpx.get(gateway.url + "/metrics").status_code == 200
    engine.dispose()
