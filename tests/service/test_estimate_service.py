"""Resolving model names for the estimator, and side-by-side comparisons with warnings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from imagegate.catalog import load_catalog
from imagegate.config.file import parse_config
from imagegate.route_config import build_route_table
from imagegate.service.estimate import EstimateSpec, UnknownModel, compare, resolve

CATALOG = load_catalog(
    overrides=[
        {
            # A second provider with a model id the catalog already has, to make a bare name ambiguous.
            "provider": "together",
            "model": "gpt-image-2",
            "family": "gpt-image",
            "endpoint_types": ["together"],
            "capabilities": {"operations": ["generate"]},
            "pricing": {"unit": "image", "image_prices": [{"usd": "0.05"}], "source": ["test"], "as_of": "2026-11-30"},
            "source": ["test"],
            "as_of": "2026-11-30",
        }
    ]
)
ROUTES = build_route_table(
    parse_config(
        {
            "models": [
                {
                    "name": "house-style",
                    "routes": [
                        {"provider": "openai", "model": "not-in-catalog", "base_url": "http://x/v1"},
                        {"provider": "gemini", "model": "gemini-3-pro-image", "base_url": "http://x"},
                    ],
                },
                {"name": "unpriced", "routes": [{"provider": "openai", "model": "nope", "base_url": "http://x/v1"}]},
            ]
        },
        env={},
    )
)
TODAY = date(2026, 11, 22)


def test_resolution_order() -> None:
    # An alias resolves to its first route the catalog prices.
    assert resolve("house-style", CATALOG, ROUTES).model == "gemini-3-pro-image"
    assert resolve("openai/gpt-image-2", CATALOG, ROUTES).provider == "openai"
    assert resolve("together/gpt-image-2", CATALOG, ROUTES).provider == "together"
    # Model ids containing slashes, and catalog aliases, resolve too.
    assert resolve("fal/fal-ai/flux-2-pro", CATALOG, ROUTES).model == "fal-ai/flux-2-pro"
    assert resolve("fal-ai/flux-2-pro", CATALOG, ROUTES).provider == "fal"
    assert resolve("chatgpt-image-latest", CATALOG, None).model == "gpt-image-1.5"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpt-image-2", "ambiguous: name one of openai/gpt-image-2, together/gpt-image-2"),
        ("unpriced", "none of its routes has a catalog price"),
        ("dall-e-4", "neither served by this gateway nor in the catalog"),
    ],
)
def test_names_that_do_not_resolve(name: str, message: str) -> None:
    with pytest.raises(UnknownModel, match=message):
        resolve(name, CATALOG, ROUTES)


def test_compare_keeps_going_past_a_model_it_cannot_price() -> None:
    spec = EstimateSpec(
        models=["openai/gpt-image-2", "dall-e-4", "imagen-4.0-generate-001", "house-style"],
        size="1024x1024",
        quality="medium",
        prompt_tokens=60,
        n=5,
    )
    gpt2, unknown, imagen, gemini = compare(spec, CATALOG, ROUTES, today=TODAY)
    assert gpt2.estimate is not None and gpt2.estimate.per_request_micros == 5 * 52980
    assert unknown.estimate is None and "neither served" in unknown.error
    # Imagen prices any size at its flat rate, but is past its shutdown and takes at most 4 images.
    assert imagen.estimate is not None and imagen.estimate.per_request_micros == 5 * 40000
    assert imagen.warnings[0].startswith("shut down on 2026-08-17")
    assert "n=5 is above the model's maximum of 4" in imagen.warnings[1]
    # Gemini prices by resolution tier: a WxH size prices at its nearest tier (1024x1024 -> 1K).
    at_tier = compare(spec.model_copy(update={"models": ["house-style"], "size": "1K"}), CATALOG, ROUTES, today=TODAY)[
        0
    ]
    assert gemini.provider == "gemini" and gemini.estimate is not None
    assert gemini.estimate.per_request_micros == at_tier.estimate.per_request_micros > 5 * 134400


def test_json_shape_uses_decimal_strings() -> None:
    spec = EstimateSpec(
        models=["openai/gpt-image-2"],
        size="1024x1024",
        quality="medium",
        prompt_tokens=60,
        monthly_images=1000,
        acceptance_rate=Decimal("0.85"),
    )
    [result] = compare(spec, CATALOG, ROUTES, today=TODAY)
    body = result.as_dict()
    assert body["per_request_usd"] == "0.052980" and body["per_month_usd"] == "52.980000"
    assert body["per_accepted_image_usd"] == "0.062329"
    assert body["requests_per_month"] == "1000" and body["accepted_images_per_month"] == "850"
    assert body["breakdown_usd"] == {"text_input": "0.000300", "image_output": "0.052680"}
    assert (body["provider"], body["provider_model"], body["error"], body["warnings"]) == (
        "openai",
        "gpt-image-2",
        None,
        [],
    )


def test_future_shutdowns_and_unverified_prices_are_flagged() -> None:
    spec = EstimateSpec(models=["openai/gpt-image-1.5", "gemini-3.1-flash-lite-image"])
    old, lite = compare(spec, CATALOG, ROUTES, today=TODAY)
    assert old.warnings == ("shuts down on 2026-12-01 (replacement: gpt-image-2.5-sunburst)",)
    assert any("unverified" in warning for warning in lite.warnings)


@pytest.mark.parametrize(
    "fields",
    [
        {"models": []},
        {"models": ["x"], "acceptance_rate": 2},
        {"models": ["x"], "partial_images": 4},
        {"models": ["x"], "colour": "red"},
    ],
)
def test_spec_validation(fields) -> None:
    with pytest.raises(ValidationError):
        EstimateSpec(**fields)
