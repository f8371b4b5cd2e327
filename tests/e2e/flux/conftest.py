"""One gateway for the FLUX end-to-end tests: every FLUX alias routed to the sandbox's hosts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.flux import FLUX_MASTER_KEY, flux_config
from tests.support.gateway import GatewayHandle, running_gateway


@pytest.fixture(scope="package")
def flux_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """The gateway (SQLite), shared by the package's modules."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("flux") / "imagegate.db")
    with running_gateway(engine, flux_config(sandbox_url), master_key=FLUX_MASTER_KEY) as handle:
        yield handle
    engine.dispose()


@pytest.fixture(scope="package")
def client(flux_gateway: GatewayHandle) -> Iterator[OpenAI]:
    """The official openai SDK, no SDK retries (the gateway's are what is tested)."""
    with OpenAI(base_url=flux_gateway.url + "/v1", api_key=flux_gateway.create_key("flux"), max_retries=0) as sdk:
        yield sdk
