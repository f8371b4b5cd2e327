"""Limit refusals as each dialect's clients see them, streams settled, and two gateways sharing one SQLite file."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import httpx
import openai
import pytest
import sqlalchemy as sa
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from imagegate.domain.limits import Limits
from imagegate.store import SqlKeyStore, make_engine
from imagegate.store.governance_tables import admission_holds, admission_spend
from imagegate.store.sql_admission import SqlAdmissionStore
from tests.e2e.admission_support import (
    MEDIUM_QUOTE,
    MODEL,
    bucket,
    ledger_rows,
    limited_key,
    mixed_body,
    settled_sql,
    storm,
)
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config
from tests.support.google import BEFORE_IMAGEN_SHUTDOWN, google_models_config


@pytest.fixture(scope="module")
def limited_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """One gateway without Redis (admission in its SQLite database), OpenAI and Google aliases."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("limited") / "imagegate.db")
    document = google_models_config(sandbox_url)
    document["models"] += sandbox_models_config(sandbox_url, [MODEL])["models"]
    with running_gateway(engine, document, today=lambda: BEFORE_IMAGEN_SHUTDOWN) as handle:
        yield handle
    engine.dispose()


def _openai(gateway: GatewayHandle, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=secret, max_retries=0)


def test_openai_clients_see_budget_refusals_with_their_headers(limited_gateway):
    budget = 5 * MEDIUM_QUOTE
    key = limited_key(limited_gateway.engine, "sdk-budget", Limits(budget_micros=budget, budget_period="day"))
    client = _openai(limited_gateway, key.secret)
    for _ in range(3):
        client.images.generate(model=MODEL, prompt="x", quality="medium", size="1024x1024")
    spent = sum(row.cost_micros for row in ledger_rows([limited_gateway], key.name))
    settled_sql(SqlAdmissionStore(limited_gateway.engine), f"key:{key.key_id}", bucket("usd", "day"))
    with pytest.raises(openai.RateLimitError) as refused:
        client.images.generate(model=MODEL, prompt="x", quality="high", size="1024x1024")
    error = refused.value
    assert error.code == "budget_exceeded" and error.type == "insufficient_quota"
    headers = error.response.headers
    left = budget - spent
    assert headers["x-imagegate-budget-remaining-usd"] == f"{left / 1_000_000:.6f}"
    assert headers["x-should-retry"] == "false" and "retry-after" not in headers  # nothing in flight

    with pytest.raises(openai.BadRequestError) as too_big:
        client.images.generate(model=MODEL, prompt="x", quality="high", size="1536x1024", n=2)
    assert too_big.value.code == "request_exceeds_budget" and "whole day budget" in too_big.value.message


def test_openai_clients_see_rate_and_quota_refusals(limited_gateway):
    key = limited_key(limited_gateway.engine, "sdk-quota", Limits(image_quota=3, quota_period="total"))
    client = _openai(limited_gateway, key.secret)
    client.images.generate(model=MODEL, prompt="x", quality="low", n=2)
    with pytest.raises(openai.RateLimitError) as quota:
        client.images.generate(model=MODEL, prompt="x", quality="low", n=2)
    assert (quota.value.code, quota.value.type) == ("image_quota_exceeded", "insufficient_quota")
    assert quota.value.response.headers["x-imagegate-images-remaining"] == "1"

    key = limited_key(limited_gateway.engine, "sdk-rates", Limits(rpm=2))
    client = _openai(limited_gateway, key.secret)
    for _ in range(2):
        client.images.generate(model=MODEL, prompt="x", quality="low", n=1)
    with pytest.raises(openai.RateLimitError) as rate:
        client.images.generate(model=MODEL, prompt="x", quality="low", n=1)
    headers = rate.value.response.headers
    assert rate.value.code == "rate_limit_exceeded"
    assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"]) == ("2", "0")
    assert headers["x-ratelimit-reset-requests"].endswith("s") and int(headers["retry-after"]) >= 1

    busy = limited_key(limited_gateway.engine, "sdk-busy", Limits(max_concurrent=1))
    results = asyncio.run(
        storm([limited_gateway], busy.secret, [{"model": MODEL, "prompt": "b [sandbox:slow=0.5]"} for _ in range(3)])
    )
    refused = [a for a in results if a.status == 429]
    assert {a.code for a in refused} == {"concurrency_limit_exceeded"} and len(refused) >= 1
    assert all(a.headers["retry-after"] == "1" for a in refused)


def test_google_clients_see_resource_exhausted_with_a_quota_failure(limited_gateway):
    key = limited_key(limited_gateway.engine, "genai-quota", team=Limits(image_quota=1, quota_period="day"))
    client = genai.Client(api_key=key.secret, http_options=types.HttpOptions(base_url=limited_gateway.url))
    client.models.generate_content(model="nano-banana-2", contents="a cat")
    with pytest.raises(genai_errors.ClientError) as refused:
        client.models.generate_content(model="nano-banana-2", contents="a cat")
    assert refused.value.code == 429 and refused.value.status == "RESOURCE_EXHAUSTED"
    [failure] = [d for d in refused.value.details["error"]["details"] if d["@type"].endswith("QuotaFailure")]
    assert failure["violations"][0]["subject"] == "team"
    assert failure["violations"][0]["quotaMetric"] == "imagegate/image_quota_exceeded"
    client.close()

    imagen = httpx.post(
        f"{limited_gateway.url}/v1beta/models/imagen-4-strict:predict",
        headers={"x-goog-api-key": key.secret},
        json={"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 1}},
        timeout=30,
    )
    assert imagen.status_code == 429 and imagen.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_a_stream_is_settled_when_it_ends(limited_gateway):
    key = limited_key(limited_gateway.engine, "sdk-stream", Limits(budget_micros=10 * MEDIUM_QUOTE, max_concurrent=2))
    client = _openai(limited_gateway, key.secret)
    events = list(client.images.generate(model="gpt-image-2", prompt="s", stream=True, partial_images=1, quality="low"))
    assert events[-1].type == "image_generation.completed"
    rows = ledger_rows([limited_gateway], key.name)
    store = SqlAdmissionStore(limited_gateway.engine)
    assert settled_sql(store, f"key:{key.key_id}", bucket("usd")) == (sum(r.cost_micros for r in rows), 0)
    assert settled_sql(store, f"key:{key.key_id}", "conc") == (0, 0)


def test_a_key_without_limits_is_never_admitted_or_counted(limited_gateway):
    secret = limited_gateway.create_key("unlimited")
    _openai(limited_gateway, secret).images.generate(model=MODEL, prompt="x", quality="low")
    record = SqlKeyStore(limited_gateway.engine).key_by_name("unlimited")
    assert record is not None and len(ledger_rows([limited_gateway], "unlimited")) == 1
    with limited_gateway.engine.connect() as conn:
        for table in (admission_holds, admission_spend):
            assert conn.execute(sa.select(table).where(table.c.holder == f"key:{record.id}")).all() == []


async def test_two_gateways_on_one_sqlite_file_share_a_budget(sandbox_url, tmp_path):
    path = tmp_path / "shared.db"
    migrated_sqlite_engine(path).dispose()
    engines = [make_engine(f"sqlite:///{path}"), make_engine(f"sqlite:///{path}")]
    document = sandbox_models_config(sandbox_url, [MODEL])
    with running_gateway(engines[0], document) as first, running_gateway(engines[1], document) as second:
        budget = 20 * MEDIUM_QUOTE
        key = limited_key(engines[0], "sqlite-shared", Limits(budget_micros=budget))
        rng = random.Random(21)
        answers = await storm([first, second], key.secret, [mixed_body(rng, "s") for _ in range(60)])
        assert {a.code for a in answers if a.status != 200} == {"budget_exceeded"}
        rows = ledger_rows([first, second], key.name)
        assert 0 < sum(row.cost_micros for row in rows) <= budget
        store = SqlAdmissionStore(engines[0])
        assert settled_sql(store, f"key:{key.key_id}", bucket("usd")) == (sum(row.cost_micros for row in rows), 0)
    for engine in engines:
        engine.dispose()
