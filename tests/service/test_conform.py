"""Fitting a request to a route of another dialect: shapes, foreign fields, fan-out. Pure."""

from __future__ import annotations

import pytest

from imagegate.catalog import load_catalog
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.providers.registry import builtin_registry
from imagegate.service.conform import MAX_FAN_OUT_IMAGES, conform, split_n

CATALOG = load_catalog()
REGISTRY = builtin_registry()
GEMINI = REGISTRY.get("gemini")
OPENAI = REGISTRY.get("openai")
IMAGEN = REGISTRY.get("imagen")


def caps(provider: str, model: str):
    entry = CATALOG.find(provider, model)
    assert entry is not None
    return entry.capabilities


def openai_req(**fields) -> ImageRequest:
    return ImageRequest(
        **{"operation": "generate", "model": "alias", "prompt": "p", "dialect": "openai-images", **fields}
    )


GEMINI_NAMES = {
    "aspect_ratio": "generationConfig.imageConfig.aspectRatio",
    "resolution": "generationConfig.imageConfig.imageSize",
    "n": "generationConfig.candidateCount",
}


def gemini_req(**fields) -> ImageRequest:
    return ImageRequest(
        **{
            "operation": "generate",
            "model": "alias",
            "prompt": "p",
            "dialect": "gemini",
            "param_names": dict(GEMINI_NAMES),
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("size", "aspect", "tier"),
    [("1024x1024", "1:1", "1K"), ("1536x1024", "3:2", "1K"), ("1024x1536", "2:3", "1K"), ("2048x1152", "16:9", "2K")],
)
def test_a_pixel_size_becomes_the_nearest_aspect_ratio_and_tier(size, aspect, tier):
    fitted = conform(openai_req(size=size), GEMINI, caps("gemini", "gemini-3-pro-image"), "gemini-3-pro-image").request
    assert (fitted.size, fitted.aspect_ratio, fitted.resolution) == (None, aspect, tier)


def test_models_without_tiers_get_the_aspect_ratio_only_and_auto_means_the_default():
    flash = caps("gemini", "gemini-2.5-flash-image")
    assert conform(openai_req(size="1536x1024"), GEMINI, flash, "m").request.resolution is None
    auto = conform(openai_req(size="auto"), GEMINI, flash, "m").request
    assert (auto.size, auto.aspect_ratio) == (None, None)


@pytest.mark.parametrize(
    ("model", "aspect", "tier", "size"),
    [
        ("gpt-image-2", "16:9", "1K", "1376x768"),
        ("gpt-image-2", "1:1", "2K", "2048x2048"),
        ("gpt-image-2", "9:16", None, "768x1376"),
        ("gpt-image-1.5", "16:9", "1K", "1536x1024"),
        ("gpt-image-1.5", "1:1", "4K", "1024x1024"),
        ("gpt-image-1.5", None, "2K", "1024x1024"),
    ],
)
def test_an_aspect_ratio_and_tier_become_the_nearest_size_the_model_makes(model, aspect, tier, size):
    fitted = conform(gemini_req(aspect_ratio=aspect, resolution=tier), OPENAI, caps("openai", model), model).request
    assert (fitted.size, fitted.aspect_ratio, fitted.resolution) == (size, None, None)


@pytest.mark.parametrize(("aspect", "tier", "param"), [("16:9", "4K", "resolution"), ("1:8", "1K", "aspect_ratio")])
def test_a_shape_a_custom_size_model_cannot_make_is_refused_naming_the_field(aspect, tier, param):
    with pytest.raises(InvalidRequest) as info:
        conform(gemini_req(aspect_ratio=aspect, resolution=tier), OPENAI, caps("openai", "gpt-image-2"), "gpt-image-2")
    assert info.value.param == GEMINI_NAMES[param]


def test_foreign_fields_are_refused_by_name_unless_the_adapter_translates_them():
    with pytest.raises(InvalidRequest) as info:
        conform(gemini_req(extra={"safetySettings": []}), OPENAI, caps("openai", "gpt-image-2"), "gpt-image-2")
    assert info.value.param == "safetySettings" and "gpt-image-2" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        conform(
            openai_req(dialect="imagen", extra={"parameters.negativePrompt": "x"}),
            GEMINI,
            caps("gemini", "gemini-2.5-flash-image"),
            "gemini-2.5-flash-image",
        )
    assert info.value.param == "parameters.negativePrompt"
    allowed = conform(
        openai_req(dialect="imagen", extra={"parameters.personGeneration": "allow_adult"}),
        GEMINI,
        caps("gemini", "gemini-2.5-flash-image"),
        "gemini-2.5-flash-image",
    )
    assert allowed.request.extra == {"parameters.personGeneration": "allow_adult"}
    same_dialect = conform(gemini_req(extra={"safetySettings": []}), GEMINI, caps("gemini", "gemini-3-pro-image"), "m")
    assert same_dialect.request.extra == {"safetySettings": []}


def test_auto_values_that_ask_for_nothing_are_dropped_explicit_ones_kept():
    fitted = conform(
        openai_req(quality="auto", moderation="auto", background="opaque"),
        GEMINI,
        caps("gemini", "gemini-3-pro-image"),
        "m",
    ).request
    assert (fitted.quality, fitted.moderation, fitted.background) == (None, None, None)
    kept = conform(
        openai_req(quality="high", background="transparent"), GEMINI, caps("gemini", "gemini-3-pro-image"), "m"
    )
    assert (kept.request.quality, kept.request.background) == ("high", "transparent")
    native = conform(openai_req(quality="auto"), OPENAI, caps("openai", "gpt-image-2"), "gpt-image-2").request
    assert native.quality == "auto"


def test_n_above_what_one_call_makes_is_split_never_reduced():
    fitted = conform(openai_req(n=3), GEMINI, caps("gemini", "gemini-3-pro-image"), "m")
    assert fitted.chunks == (1, 1, 1) and fitted.request.n == 1
    imagen = conform(openai_req(n=6), IMAGEN, caps("imagen", "imagen-4.0-generate-001"), "m")
    assert imagen.chunks == (4, 2) and imagen.request.n == 4
    assert conform(openai_req(n=4), IMAGEN, caps("imagen", "imagen-4.0-generate-001"), "m").chunks is None
    with pytest.raises(InvalidRequest) as info:
        conform(gemini_req(n=MAX_FAN_OUT_IMAGES + 1), GEMINI, caps("gemini", "gemini-3-pro-image"), "m")
    assert info.value.param == "generationConfig.candidateCount"


def test_split_n():
    assert split_n(7, 4) == (4, 3) and split_n(8, 4) == (4, 4) and split_n(1, 1) == (1,)


def test_an_emulated_stream_is_served_whole_and_cannot_carry_partials():
    fitted = conform(
        openai_req(stream=True, partial_images=0),
        GEMINI,
        caps("gemini", "gemini-3-pro-image"),
        "m",
        emulate_stream=True,
    ).request
    assert (fitted.stream, fitted.partial_images) == (False, None)
    with pytest.raises(InvalidRequest) as info:
        conform(
            openai_req(stream=True, partial_images=2),
            GEMINI,
            caps("gemini", "gemini-3-pro-image"),
            "m",
            emulate_stream=True,
        )
    assert info.value.param == "partial_images"
