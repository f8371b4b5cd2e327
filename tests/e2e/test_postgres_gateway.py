"""The gateway as a replica over PostgreSQL: keys, pipeline and ledger on a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from imagegate.store.database import make_engine
from tests.store.fixtures import require_postgres, throwaway_pg_database
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_gateway(sandbox_url: str) -> Iterator[GatewayHandle]:
    server = require_postgres()
    with throwaway_pg_database(server, prefix="imagegate_e2e") as url:
        engine = make_engine(url)
        with running_gateway(engine, sandbox_models_config(sandbox_url, ["gpt-image-2"])) as handle:
            yield handle
        engine.dispose()


def test_generation_and_stream_are_recorded_in_postgresql(pg_gateway):
    assert pg_gateway.engine.dialect.name == "postgresql"
    client = OpenAI(base_url=pg_gateway.url + "/v1", api_key=pg_gateway.create_key("pg-client"), max_retries=0)
    raw = client.images.with_raw_response.generate(model="gpt-image-2", prompt="x", size="1024x1024", quality="low")
    events = list(client.images.generate(model="gpt-image-2", prompt="y", stream=True, partial_images=1))
    assert events[-1].type == "image_generation.completed"
    rows = pg_gateway.ledger()
    assert len(rows) == 2
    plain = next(row for row in rows if row.request_id == raw.headers["x-request-id"])
    assert (plain.status, plain.key_name, plain.usage["output_tokens"]) == ("ok", "pg-client", 196)
    streamed = next(row for row in rows if row.stream)
    assert streamed.status == "ok" and streamed.images == 1 and streamed.cost_micros > 0
    assert plain.created_at.tzinfo is not None
