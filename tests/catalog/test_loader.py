"""The shipped catalog loads, every row is sourced and dated, and operators can override it."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from imagegate.catalog import Catalog, CatalogError, CatalogModel, load_catalog, shipped_files
from imagegate.domain.capabilities import Capabilities, CustomSizeRule
from imagegate.pricing.rows import PriceRow

REQUIRED = {
    "openai": [
        "gpt-image-2",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.5-flare",
        "gpt-image-1.5",
        "gpt-image-1-mini",
        "gpt-image-1",
        "dall-e-2",
        "dall-e-3",
    ],
    "gemini": [
        "gemini-2.5-flash-image",
        "gemini-3-pro-image",
        "gemini-3-pro-image-preview",
        "gemini-3.1-flash-image",
        "gemini-3.1-flash-image-preview",
    ],
    "imagen": [
        "imagen-4.0-fast-generate-001",
        "imagen-4.0-generate-001",
        "imagen-4.0-ultra-generate-001",
    ],
    "bfl": [
        "flux-2-klein-4b",
        "flux-2-klein-9b",
        "flux-2-pro",
        "flux-2-max",
        "flux-2-flex",
        "flux-kontext-pro",
        "flux-kontext-max",
        "flux-pro-1.1",
        "flux-pro-1.1-ultra",
        "flux-dev",
    ],
    "fal": ["fal-ai/flux-2-pro", "fal-ai/flux-2-flex", "fal-ai/flux/dev", "fal-ai/flux/schnell"],
    "replicate": ["black-forest-labs/flux-2-pro", "black-forest-labs/flux-schnell"],
    "together": ["black-forest-labs/FLUX.1-schnell", "black-forest-labs/FLUX.1-dev"],
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _gpt2_override(**pricing: object) -> dict:
    return {"provider": "openai", "model": "gpt-image-2", "pricing": pricing}


def test_shipped_files_are_one_per_family() -> None:
    assert [path.name for path in shipped_files()] == ["flux.json", "google.json", "openai.json"]


@pytest.mark.parametrize(("provider", "model"), [(p, m) for p, ms in REQUIRED.items() for m in ms])
def test_required_models_are_present(catalog: Catalog, provider: str, model: str) -> None:
    entry = catalog.find(provider, model)
    assert entry is not None and entry.model == model


def test_every_row_and_price_is_sourced_and_dated(catalog: Catalog) -> None:
    for entry in catalog.models():
        assert entry.source and all(s.strip() for s in entry.source), entry.model
        assert entry.price.source and all(s.strip() for s in entry.price.source), entry.model
        assert isinstance(entry.as_of, date) and isinstance(entry.price.as_of, date), entry.model
        # Nothing in the seed is dated after the reference's compilation day; the mainline (text)
        # rows for the Responses API were added later, from their own sources.
        if entry.family != "mainline":
            assert entry.price.as_of <= date(2026, 11, 21), entry.model


def test_every_row_exposes_domain_types(catalog: Catalog) -> None:
    for entry in catalog.models():
        assert isinstance(entry, CatalogModel)
        assert isinstance(entry.capabilities, Capabilities)
        assert isinstance(entry.price, PriceRow)
        assert entry.endpoint_types, entry.model
        # Image models generate/edit; mainline models only answer Responses turns (the tool draws).
        expected = {"respond"} if entry.family == "mainline" else {"generate", "edit"}
        assert entry.capabilities.operations <= expected, entry.model


def test_money_in_the_shipped_data_is_never_a_json_float() -> None:
    # Rates are decimal strings so any JSON reader keeps them exact.
    def walk(node: object, path: str) -> None:
        if isinstance(node, float):
            raise AssertionError(f"float at {path}")
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in {"max_aspect_ratio"}:
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    for path in shipped_files():
        walk(json.loads(path.read_text())["models"], path.name)


@pytest.mark.parametrize(
    ("provider", "alias", "model"),
    [
        ("openai", "gpt-image-2-2026-04-21", "gpt-image-2"),
        ("openai", "chatgpt-image-latest", "gpt-image-1.5"),
        ("openai", "gpt-image-1.5-2025-12-16", "gpt-image-1.5"),
        ("openai", "gpt-image-2.5-flare-2026-09-08", "gpt-image-2.5-flare"),
        ("gemini", "nano-banana-pro-preview", "gemini-3-pro-image-preview"),
        ("gemini", "gemini-2.5-flash-image-preview", "gemini-2.5-flash-image"),
    ],
)
def test_aliases_resolve_to_their_row(catalog: Catalog, provider: str, alias: str, model: str) -> None:
    entry = catalog.find(provider, alias)
    assert entry is not None and entry.model == model
    assert catalog.find("bfl", alias) is None


def test_for_provider_lists_only_that_provider(catalog: Catalog) -> None:
    rows = catalog.for_provider("imagen")
    assert {row.model for row in rows} == set(REQUIRED["imagen"])
    assert catalog.providers() == ["bfl", "fal", "gemini", "imagen", "openai", "replicate", "together"]


def test_gpt_image_capabilities(catalog: Catalog) -> None:
    gpt2 = catalog.find("openai", "gpt-image-2").capabilities
    assert gpt2.custom_size == CustomSizeRule(
        multiple_of=16, max_edge=3840, max_aspect_ratio=3.0, min_pixels=655360, max_pixels=8294400
    )
    assert gpt2.transparent_background is False and "transparent" not in gpt2.backgrounds
    assert gpt2.input_fidelities == ()
    assert (gpt2.max_input_images, gpt2.max_partial_images, gpt2.max_prompt_chars) == (16, 3, 32000)
    assert "auto" in gpt2.sizes and gpt2.default_size == "auto" and gpt2.max_n == 10
    assert gpt2.operations == frozenset({"generate", "edit"}) and gpt2.mask and gpt2.streaming
    gpt15 = catalog.find("openai", "gpt-image-1.5").capabilities
    assert gpt15.transparent_background and set(gpt15.input_fidelities) == {"high", "low"}
    mini = catalog.find("openai", "gpt-image-1-mini").capabilities
    assert mini.transparent_background and mini.input_fidelities == ("low",)
    assert catalog.find("openai", "dall-e-3").capabilities.max_n == 1


def test_google_capabilities(catalog: Catalog) -> None:
    pro = catalog.find("gemini", "gemini-3-pro-image").capabilities
    flash = catalog.find("gemini", "gemini-3.1-flash-image").capabilities
    assert pro.max_input_images == flash.max_input_images == 14
    assert pro.resolutions == ("1K", "2K", "4K") and "512" in flash.resolutions
    assert "8:1" in flash.aspect_ratios and "8:1" not in pro.aspect_ratios
    fast = catalog.find("imagen", "imagen-4.0-fast-generate-001")
    assert fast.capabilities.resolutions == ("1K",) and fast.price.default_n == 4


def test_lifecycle_dates(catalog: Catalog) -> None:
    gpt1 = catalog.find("openai", "gpt-image-1").lifecycle
    assert gpt1.shutdown_on == date(2026, 10, 23)
    assert gpt1.is_shut_down(date(2026, 10, 23)) and not gpt1.is_shut_down(date(2026, 10, 22))
    for model in REQUIRED["imagen"]:
        lifecycle = catalog.find("imagen", model).lifecycle
        assert lifecycle.shutdown_on == date(2026, 8, 17)
        assert lifecycle.replacement == "gemini-2.5-flash-image"
    preview = catalog.find("gemini", "gemini-3-pro-image-preview").lifecycle
    assert (preview.shutdown_on, preview.replacement) == (date(2026, 6, 25), "gemini-3-pro-image")
    assert catalog.find("gemini", "gemini-3-pro-image").lifecycle.shutdown_on is None
    gpt15 = catalog.find("openai", "gpt-image-1.5").lifecycle
    assert gpt15.is_deprecated(date(2026, 7, 1)) and not gpt15.is_shut_down(date(2026, 7, 1))
    assert catalog.find("openai", "dall-e-3").lifecycle.is_shut_down(date(2026, 11, 21))


def test_unverified_reference_values_are_flagged(catalog: Catalog) -> None:
    assert catalog.find("bfl", "flux-2-flex").price.unverified
    assert catalog.find("openai", "gpt-image-2.5-sunburst").price.unverified
    assert catalog.find("openai", "gpt-image-1-mini").price.output_tokens.unverified
    assert catalog.find("openai", "gpt-image-1.5").price.input_images.unverified
    assert not catalog.find("bfl", "flux-2-pro").price.unverified


def test_override_deep_merges_into_a_shipped_row() -> None:
    catalog = load_catalog(overrides=[_gpt2_override(token_rates={"image_output": "27.5"})])
    rates = catalog.find("openai", "gpt-image-2").price.token_rates
    assert rates.image_output == Decimal("27.5")
    # Sibling keys survive the merge.
    assert rates.text_input == Decimal("5.00") and rates.image_input == Decimal("8.00")
    # Lookups by alias see the overridden row too.
    assert catalog.find("openai", "gpt-image-2-2026-04-21").price.token_rates.image_output == Decimal("27.5")


def test_override_replaces_lists_and_scalars() -> None:
    catalog = load_catalog(
        overrides=[
            {
                "provider": "openai",
                "model": "gpt-image-2",
                "aliases": ["my-gpt"],
                "lifecycle": {"shutdown_on": "2027-01-01"},
            }
        ]
    )
    entry = catalog.find("openai", "my-gpt")
    assert entry is not None and entry.aliases == ("my-gpt",)
    assert catalog.find("openai", "gpt-image-2-2026-04-21") is None
    assert entry.lifecycle.shutdown_on == date(2027, 1, 1)


def test_override_can_add_a_complete_row() -> None:
    row = {
        "model": "black-forest-labs/FLUX.2-pro",
        "provider": "together",
        "family": "flux-2",
        "endpoint_types": ["together"],
        "capabilities": {"operations": ["generate"]},
        "pricing": {
            "unit": "image",
            "image_prices": [{"usd": 0.05}],
            "source": ["operator invoice"],
            "as_of": "2026-11-30",
        },
        "source": ["operator"],
        "as_of": "2026-11-30",
    }
    catalog = load_catalog(overrides=[row])
    entry = catalog.find("together", "black-forest-labs/FLUX.2-pro")
    assert entry is not None and entry.price.image_prices[0].usd == Decimal("0.05")
    assert len(catalog) == len(load_catalog()) + 1


def test_extra_files_apply_like_overrides(tmp_path: Path) -> None:
    extra = tmp_path / "mine.json"
    extra.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "models": [{"provider": "bfl", "model": "flux-2-pro", "pricing": {"megapixel": {"first_mp": "0.025"}}}],
            }
        )
    )
    price = load_catalog(extra_files=[extra]).find("bfl", "flux-2-pro").price
    assert price.megapixel.first_mp == Decimal("0.025") and price.megapixel.output_mp == Decimal("0.015")


def test_bad_override_names_row_and_field() -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(overrides=[_gpt2_override(token_rates={"image_output": "lots"})])
    message = str(caught.value)
    assert "openai/gpt-image-2" in message and "override #0" in message
    assert "pricing.token_rates.image_output" in message


def test_unknown_field_in_override_is_rejected() -> None:
    with pytest.raises(CatalogError, match=r"pricing\.token_rate\b"):
        load_catalog(overrides=[_gpt2_override(token_rate={"image_output": "1"})])


def test_incomplete_new_row_names_missing_fields() -> None:
    with pytest.raises(CatalogError, match=r"acme/new-model.*family: Field required"):
        load_catalog(overrides=[{"provider": "acme", "model": "new-model"}])


def test_override_without_key_fields_is_rejected() -> None:
    with pytest.raises(CatalogError, match="'provider' and 'model'"):
        load_catalog(overrides=[{"model": "gpt-image-2"}])


def test_unit_mismatch_is_rejected() -> None:
    with pytest.raises(CatalogError, match=r"unit 'image' does not use .*token_rates"):
        load_catalog(overrides=[_gpt2_override(unit="image", image_prices=[{"usd": "0.01"}])])


def test_null_clears_a_field_so_an_override_can_change_unit() -> None:
    override = _gpt2_override(
        unit="image", image_prices=[{"usd": "0.01"}], token_rates=None, output_tokens=None, input_images=None
    )
    price = load_catalog(overrides=[override]).find("openai", "gpt-image-2").price
    assert price.unit == "image" and price.token_rates is None


def test_alias_clash_is_rejected() -> None:
    with pytest.raises(CatalogError, match=r"alias clash.*gpt-image-1"):
        load_catalog(overrides=[{"provider": "openai", "model": "gpt-image-1.5", "aliases": ["gpt-image-1"]}])


def test_wrong_schema_version_is_rejected(tmp_path: Path) -> None:
    extra = tmp_path / "old.json"
    extra.write_text(json.dumps({"schema_version": 0, "models": []}))
    with pytest.raises(CatalogError, match="schema_version 0"):
        load_catalog(extra_files=[extra])


def test_float_override_is_read_by_its_decimal_text() -> None:
    # Operator YAML yields floats; 0.1 must become Decimal("0.1"), not 0.1000000000000000055...
    catalog = load_catalog(overrides=[_gpt2_override(token_rates={"text_input": 0.1})])
    assert catalog.find("openai", "gpt-image-2").price.token_rates.text_input == Decimal("0.1")


def test_docs_examples_stay_valid() -> None:
    # docs/pricing.md shows one JSON row and a YAML override block; both must load as written.
    text = (Path(__file__).parents[2] / "docs" / "pricing.md").read_text()
    row = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    added = load_catalog(overrides=[{**row, "model": "flux-2-pro-docs"}]).find("bfl", "flux-2-pro-docs")
    assert added is not None and added.price.megapixel.first_mp == Decimal("0.03")
    config = yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    catalog = load_catalog(overrides=config["catalog"])
    assert catalog.find("openai", "gpt-image-2").price.token_rates.image_output == Decimal("27.00")
    assert catalog.find("together", "black-forest-labs/FLUX.2-pro") is not None
