"""Prices end to end: the ledger, the cost header, the engine and the estimator agree, and an
operator's prices (config override or installed price file) change what requests cost."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from openai import OpenAI
from PIL import Image
from typer.testing import CliRunner

from imagegate.catalog import load_catalog
from imagegate.cli.main import app as cli
from imagegate.domain.money import usd_string
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, Usage
from imagegate.pricing.engine import settle
from imagegate.pricing.estimate import Workflow, estimate, prompt_of_tokens
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config

OVERRIDE = {
    "provider": "openai",
    "model": "gpt-image-2",
    "pricing": {"token_rates": {"image_output": "27.00"}, "as_of": "2026-12-01", "source": ["our contract"]},
}


def _png(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _client(handle: GatewayHandle) -> OpenAI:
    return OpenAI(base_url=handle.url + "/v1", api_key=handle.create_key(f"p-{uuid.uuid4().hex[:8]}"), max_retries=0)


def test_worked_example_a_costs_what_the_estimator_says(gateway):
    raw = _client(gateway).images.with_raw_response.generate(
        model="gpt-image-2", prompt=prompt_of_tokens(60), size="1024x1024", quality="medium"
    )
    [row] = gateway.ledger(raw.headers["x-request-id"])
    figures = estimate(
        load_catalog().find("openai", "gpt-image-2").price,
        Workflow(size="1024x1024", quality="medium", prompt_tokens=60),
    )
    assert row.cost_micros == figures.per_request_micros == 52980 and not row.cost_estimated
    assert raw.headers["x-imagegate-cost-usd"] == "0.052980"


def test_worked_example_b_edit_costs_what_the_estimator_says(gateway):
    image = ("ref.png", _png(1024), "image/png")
    raw = _client(gateway).images.with_raw_response.edit(
        model="gpt-image-1.5", prompt=prompt_of_tokens(60), image=[image, image], size="1024x1024", quality="medium"
    )
    [row] = gateway.ledger(raw.headers["x-request-id"])
    figures = estimate(
        load_catalog().find("openai", "gpt-image-1.5").price,
        Workflow(size="1024x1024", quality="medium", prompt_tokens=60, reference_images=("1024x1024", "1024x1024")),
    )
    assert row.cost_micros == figures.per_request_micros == 37196
    assert raw.headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros)


@pytest.fixture(scope="module")
def overridden(sandbox_url, tmp_path_factory) -> Iterator[GatewayHandle]:
    """A gateway whose config overrides gpt-image-2's output rate and which has a newer price
    file for gpt-image-1.5 installed in its data directory by ``imagegate catalog update``."""
    base = tmp_path_factory.mktemp("overridden")
    newer = base / "contract-2026-12.json"
    newer.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "models": [
                    {
                        "provider": "openai",
                        "model": "gpt-image-1.5",
                        "pricing": {
                            "token_rates": {"image_output": "16.00"},
                            "as_of": "2026-12-01",
                            "source": ["contract"],
                        },
                    },
                    # Also in the file, but the config's override comes last and wins.
                    {
                        "provider": "openai",
                        "model": "gpt-image-2",
                        "pricing": {
                            "token_rates": {"image_output": "99.00"},
                            "as_of": "2026-12-01",
                            "source": ["contract"],
                        },
                    },
                ],
            }
        )
    )
    data_dir = base / "data"
    result = CliRunner().invoke(cli, ["catalog", "update", str(newer)], env={"IMAGEGATE_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    engine = migrated_sqlite_engine(base / "o.db")
    document = {**sandbox_models_config(sandbox_url, ["gpt-image-2", "gpt-image-1.5"]), "catalog": [OVERRIDE]}
    with running_gateway(engine, document, data_dir=data_dir) as handle:
        yield handle
    engine.dispose()


def _engine_figure(handle: GatewayHandle, request: ImageRequest, usage: dict) -> int:
    row = handle.runtime.catalog.find("openai", request.model)
    counted = Usage(
        input_text_tokens=usage["input_tokens_details"]["text_tokens"],
        input_image_tokens=usage["input_tokens_details"]["image_tokens"],
        output_image_tokens=usage["output_tokens"],
    )
    return settle(request, ImageResult(image_count=1, usage=counted), row.price).micros


@pytest.mark.parametrize(("model", "rate"), [("gpt-image-2", 27), ("gpt-image-1.5", 16)])
def test_operator_prices_change_the_ledger_and_the_header(overridden, model, rate):
    raw = _client(overridden).images.with_raw_response.generate(
        model=model, prompt="abcd" * 10, size="1024x1024", quality="low"
    )
    usage = raw.parse().usage.model_dump()
    [row] = overridden.ledger(raw.headers["x-request-id"])
    text, output = usage["input_tokens_details"]["text_tokens"], usage["output_tokens"]
    assert row.cost_micros == text * 5 + output * rate
    assert raw.headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros)
    request = ImageRequest(
        operation="generate", model=model, prompt="abcd" * 10, dialect="openai", size="1024x1024", quality="low"
    )
    assert row.cost_micros == _engine_figure(overridden, request, usage)
    shipped = load_catalog().find("openai", model).price.token_rates.image_output
    assert Decimal(rate) != shipped  # the shipped price would have given another figure


def test_operator_prices_show_in_the_pricing_api(overridden):
    rows = httpx.get(overridden.url + "/api/pricing").json()["models"]
    by_model = {row["model"]: row for row in rows if row["served"]}
    assert by_model["gpt-image-2"]["rates"]["usd_per_1m_tokens"]["image_output"] == "27.00"
    assert by_model["gpt-image-2"]["source"] == ["our contract"]
    assert by_model["gpt-image-1.5"]["rates"]["usd_per_1m_tokens"]["image_output"] == "16.00"
    low = next(p for p in by_model["gpt-image-1.5"]["per_image"] if (p["size"], p["quality"]) == ("1024x1024", "low"))
    assert low["usd"] == usd_string(272 * 16)


def test_the_installed_file_never_touches_the_shipped_rows(overridden):
    assert overridden.runtime.catalog.find("openai", "gpt-image-1.5").price.source == ("contract",)
    assert load_catalog().find("openai", "gpt-image-1.5").price.token_rates.image_output == Decimal("32.00")
