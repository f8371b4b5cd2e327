"""``GET /api/pricing``, ``GET /v1/models`` cards and ``POST /api/estimate`` on a real gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from openai import OpenAI

from imagegate.catalog import load_catalog
from imagegate.domain.money import usd_string
from imagegate.pricing.engine import per_image_price
from imagegate.routing.control_store import RouteCheck
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config


def test_pricing_is_public_and_lists_served_routes_then_the_catalog(gateway):
    response = httpx.get(gateway.url + "/api/pricing")
    assert response.status_code == 200
    body = response.json()
    rows = body["models"]
    served = [row for row in rows if row["served"]]
    assert [row["model"] for row in served] == ["gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini"]
    gpt2 = served[0]
    assert (gpt2["route"], gpt2["provider"], gpt2["provider_model"]) == (
        "gpt-image-2/openai/gpt-image-2",
        "openai",
        "gpt-image-2",
    )
    assert (gpt2["status"], gpt2["last_checked_at"], gpt2["unit"]) == ("unknown", None, "token")
    assert gpt2["rates"]["usd_per_1m_tokens"]["image_output"] == "30.00"
    assert gpt2["tiers"]["batch"]["multiplier"] == "0.5"
    assert {"size": "1024x1024", "quality": "medium", "usd": "0.052680"} in gpt2["per_image"]
    # Free-form sizes the model's rule allows are listed too; 1920x1080 is not a multiple of 16.
    sizes = {point["size"] for point in gpt2["per_image"]}
    assert {"2048x2048", "3840x2160"} <= sizes and "1920x1080" not in sizes
    assert gpt2["default_image"] == {"size": "auto", "quality": None, "usd": "0.711570"}
    assert gpt2["lifecycle"] == {"deprecated_on": None, "shutdown_on": None, "replacement": None}
    # Every catalog row appears once more as an unserved row, except those routes already use.
    unserved = {(row["provider"], row["model"]) for row in rows if not row["served"]}
    catalog = load_catalog()
    assert len(unserved) == len(catalog) - 3 and ("openai", "gpt-image-2") not in unserved
    imagen = next(row for row in rows if row["provider_model"] == "imagen-4.0-generate-001")
    assert imagen["status"] == "retired" and imagen["lifecycle"]["shutdown_on"] == "2026-08-17"
    assert imagen["per_image"] == [
        {"size": "1K", "quality": None, "usd": "0.040000"},
        {"size": "2K", "quality": None, "usd": "0.040000"},
    ]
    flux = next(row for row in rows if row["provider_model"] == "flux-2-pro")
    assert flux["rates"]["usd_first_mp"] == "0.03" and flux["rates"]["output_rounding"] == "fractional"


def test_pricing_has_the_new_api_compatible_subset(gateway):
    raw = httpx.get(gateway.url + "/api/pricing").content
    body = orjson.loads(raw)
    assert body["success"] is True and body["group_ratio"] == {"default": 1}
    gpt2 = next(row for row in body["data"] if row["model_name"] == "gpt-image-2")
    # Token-priced: ratio 1 = $2 per 1M tokens, so $5 text input is 2.5; image output $30 = 6x input.
    assert (gpt2["quota_type"], gpt2["model_ratio"], gpt2["completion_ratio"]) == (0, 2.5, 6)
    assert gpt2["enable_groups"] == ["default"] and gpt2["supported_endpoint_types"] == ["image-generation"]
    assert gpt2["owner_by"] == "openai"
    # Numbers are written from decimals: no float noise in the JSON text.
    assert b'"model_ratio":2.5,' in raw and b'"completion_ratio":6,' in raw
    assert [row["model_name"] for row in body["data"]] == ["gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini"]


@pytest.fixture(scope="module")
def private_gateway(sandbox_url, tmp_path_factory) -> Iterator:
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("private") / "p.db")
    document = sandbox_models_config(sandbox_url, ["gpt-image-2"])
    document["models"].append(
        {
            "name": "dalle",
            "routes": [{"provider": "openai", "model": "dall-e-3", "base_url": f"{sandbox_url}/v1", "api_key": "sk"}],
        }
    )
    with running_gateway(engine, document, public_pricing=False) as handle:
        yield handle
    engine.dispose()


def test_pricing_can_require_a_key(private_gateway):
    assert httpx.get(private_gateway.url + "/api/pricing").status_code == 401
    key = private_gateway.create_key(f"reader-{uuid.uuid4().hex[:8]}")
    response = httpx.get(private_gateway.url + "/api/pricing", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200
    dalle = next(row for row in response.json()["data"] if row["model_name"] == "dalle")
    # Per-image models are New API "per call" rows priced at the default size and quality.
    assert (dalle["quota_type"], dalle["model_price"]) == (1, 0.04)


def test_models_carry_capabilities_and_default_price(gateway):
    client = OpenAI(
        base_url=gateway.url + "/v1", api_key=gateway.create_key(f"cards-{uuid.uuid4().hex[:8]}"), max_retries=0
    )
    models = {model.id: model for model in client.models.list()}
    assert set(models) == {"gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini"}
    card = models["gpt-image-1.5"].model_dump()
    assert (card["object"], card["owned_by"]) == ("model", "imagegate")
    capabilities = card["capabilities"]
    assert capabilities["max_n"] == 10 and "edit" in capabilities["operations"] and capabilities["streaming"]
    assert capabilities["input_fidelities"] == ["low", "high"]
    row = load_catalog().find("openai", "gpt-image-1.5")
    expected = usd_string(per_image_price(row.price, row.capabilities.default_size, row.price.default_quality))
    assert card["pricing"]["default_image"] == {"size": "auto", "quality": None, "usd": expected}
    assert card["pricing"]["unit"] == "token" and card["pricing"]["provider_model"] == "gpt-image-1.5"


def test_estimate_api(gateway):
    key = gateway.create_key(f"estimator-{uuid.uuid4().hex[:8]}")
    body = {
        "models": ["gpt-image-2", "imagen-4.0-generate-001", "nope"],
        "size": "1024x1024",
        "quality": "medium",
        "prompt_tokens": 60,
        "monthly_images": 1000,
        "acceptance_rate": 0.85,
    }
    assert httpx.post(gateway.url + "/api/estimate", json=body).status_code == 401
    response = httpx.post(gateway.url + "/api/estimate", json=body, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200
    gpt2, imagen, nope = response.json()["models"]
    assert (gpt2["per_request_usd"], gpt2["per_month_usd"], gpt2["per_accepted_image_usd"]) == (
        "0.052980",
        "52.980000",
        "0.062329",
    )
    assert gpt2["provider_model"] == "gpt-image-2" and gpt2["estimated"] is False
    # n omitted: Imagen's default of 4 images per request.
    assert (imagen["n"], imagen["per_request_usd"], imagen["per_accepted_image_usd"]) == (4, "0.160000", "0.047059")
    assert imagen["warnings"][0].startswith("shut down on 2026-08-17")
    assert nope["error"].startswith("model 'nope' is neither") and "per_request_usd" not in nope
    assert response.json()["workflow"]["acceptance_rate"] == "0.85"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"models": []}, "models"),
        ({"models": ["gpt-image-2"], "acceptance_rate": 3}, "acceptance_rate"),
        ({"models": ["gpt-image-2"], "reference_images": ["huge"]}, "reference_images"),
        ({"models": ["gpt-image-2"], "tier": "flex"}, "tier"),
        # Not sizes: once priced as an unknown tier (or read as 1024x1024), now refused naming size.
        ({"models": ["gpt-image-2", "flux-2-pro"], "size": "0x0"}, "size"),
        ({"models": ["flux-2-pro"], "size": "0x1024"}, "size"),
        ({"models": ["gpt-image-2"], "size": "1024X1024"}, "size"),
        ({"models": ["gpt-image-2"], "size": "１０２４x１０２４"}, "size"),
    ],
)
def test_estimate_api_names_the_bad_parameter(gateway, body, param):
    key = gateway.create_key(f"estimator-{uuid.uuid4().hex[:8]}")
    response = httpx.post(gateway.url + "/api/estimate", json=body, headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_live_route_health_is_shown_only_with_a_key_unless_made_public(sandbox_url, tmp_path):
    checked_at = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    engine = migrated_sqlite_engine(tmp_path / "health.db")
    document = sandbox_models_config(sandbox_url, ["gpt-image-2"])
    route = "gpt-image-2/openai/gpt-image-2"

    def served_row(handle, headers: dict[str, str]) -> dict:
        rows = httpx.get(handle.url + "/api/pricing", headers=headers).json()["models"]
        return next(row for row in rows if row["route"] == route)

    with running_gateway(engine, document) as private_health:
        private_health.runtime.routing.record_check(RouteCheck(route, "unsupported", checked_at))
        key = private_health.create_key("health-reader")
        assert (served_row(private_health, {})["status"], served_row(private_health, {})["last_checked_at"]) == (
            "unknown",
            None,
        )
        assert served_row(private_health, {"authorization": "Bearer wrong"})["status"] == "unknown"
        keyed = served_row(private_health, {"authorization": f"Bearer {key}"})
        assert (keyed["status"], keyed["last_checked_at"]) == ("unsupported", checked_at.isoformat())
    with running_gateway(engine, document, public_route_health=True) as public_health:
        assert served_row(public_health, {})["status"] == "unsupported"
    engine.dispose()
