"""End-to-end fixtures for the Google dialects and providers: a gateway over the sandbox as Google."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from google import genai
from google.genai import types

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import BEFORE_IMAGEN_SHUTDOWN, TODAY, google_models_config


@pytest.fixture(scope="module")
def google_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """A gateway whose aliases reach the sandbox as Gemini, Imagen and OpenAI; today is 2026-11-21."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("google-gateway") / "imagegate.db")
    with running_gateway(engine, google_models_config(sandbox_url), today=lambda: TODAY) as handle:
        yield handle
    engine.dispose()


@pytest.fixture(scope="module")
def legacy_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """The same aliases, on 2026-08-01: Imagen 4 is deprecated but still live."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("legacy") / "imagegate.db")
    with running_gateway(engine, google_models_config(sandbox_url), today=lambda: BEFORE_IMAGEN_SHUTDOWN) as handle:
        yield handle
    engine.dispose()


@pytest.fixture(scope="module")
def google_key(google_gateway: GatewayHandle) -> str:
    """An imagegate key for the module's tests (rows are told apart by request id)."""
    return google_gateway.create_key(f"google-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def genai_client(google_gateway: GatewayHandle, google_key: str) -> Iterator[genai.Client]:
    """The official google-genai SDK pointed at the gateway (3.x: ``/v1/models/...``)."""
    client = genai.Client(api_key=google_key, http_options=types.HttpOptions(base_url=google_gateway.url))
    yield client
    client.close()
