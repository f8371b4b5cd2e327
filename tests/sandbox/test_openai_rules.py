"""Validation and token usage of the OpenAI emulation (pure, no network)."""

from __future__ import annotations

from typing import Any

import pytest

from imagegate.sandbox.openai_models import MODELS, OpenAIError, lookup_model, output_tokens_per_image, usage_for
from imagegate.sandbox.openai_validation import coerce_form_fields, validate_request
from imagegate.sandbox.render import ImageInfo

SQUARE_PNG = ImageInfo("png", 1024, 1024, has_alpha=False)
MASK = ImageInfo("png", 1024, 1024, has_alpha=True)


def gen(**fields: Any) -> Any:
    return validate_request({"model": "gpt-image-2", "prompt": "a cat", **fields}, "generations")


def error_of(call: Any, *args: Any, **kwargs: Any) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        call(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("model", "size", "quality", "tokens"),
    [
        ("gpt-image-2", "1024x1024", "low", 196),
        ("gpt-image-2", "1024x1024", "high", 7024),
        ("gpt-image-2", "1536x1024", "high", 5488),
        ("gpt-image-2", "2048x2048", "high", 14272),
        ("gpt-image-2", "3840x2160", "medium", 3336),
        ("gpt-image-2.5-sunburst", "2048x1152", "low", 157),
        ("gpt-image-2.5-flare", "2048x1152", "medium", 367),
        ("gpt-image-2.5-flare", "2048x1152", "xhigh", 2511),
        ("gpt-image-2.5-sunburst", "2048x1152", "max", 5650),
        ("gpt-image-1.5", "1024x1024", "medium", 1056),
        ("gpt-image-1.5", "1024x1536", "high", 6240),
        ("gpt-image-1-mini", "1536x1024", "low", 400),
        ("chatgpt-image-latest", "1024x1024", "low", 272),
    ],
)
def test_output_tokens_follow_published_rules(model: str, size: str, quality: str, tokens: int) -> None:
    job = gen(model=model, size=size, quality=quality)
    assert output_tokens_per_image(job) == tokens


def test_usage_text_estimate_n_and_partials() -> None:
    job = validate_request(
        {"model": "gpt-image-2", "prompt": "x" * 41, "quality": "low", "n": 3, "stream": True, "partial_images": 2},
        "generations",
    )
    usage = usage_for(job, images=3, partials=2)
    assert usage is not None
    assert usage["input_tokens_details"] == {"text_tokens": 11, "image_tokens": 0}  # ceil(41 / 4)
    assert usage["output_tokens"] == 196 * 3 + 200
    assert usage["total_tokens"] == 11 + 196 * 3 + 200
    assert usage["output_tokens_details"] == {"image_tokens": 788, "text_tokens": 0}


def test_auto_resolves_to_1024_and_medium() -> None:
    job = gen(size="auto", quality="auto", background="auto")
    assert (job.size, job.quality, job.background) == ("1024x1024", "medium", "opaque")
    assert gen().size == "1024x1024"


def test_edit_input_tokens_by_fidelity() -> None:
    images = [SQUARE_PNG, ImageInfo("jpeg", 1536, 1024, False)]
    gpt2 = validate_request({"model": "gpt-image-2", "prompt": "abcd"}, "edits", images=images)
    # Tile rule: 194 for 1024², 323 for 1536x1024; gpt-image-2 is always high fidelity (+4096 / +6144).
    assert usage_for(gpt2, 1, 0)["input_tokens_details"]["image_tokens"] == 194 + 4096 + 323 + 6144  # type: ignore[index]
    low = validate_request({"model": "gpt-image-1.5", "prompt": "abcd"}, "edits", images=images)
    assert usage_for(low, 1, 0)["input_tokens_details"]["image_tokens"] == 194 + 323  # type: ignore[index]
    high = validate_request(
        {"model": "gpt-image-1.5", "prompt": "abcd", "input_fidelity": "high"}, "edits", images=images
    )
    assert usage_for(high, 1, 0)["input_tokens"] == 1 + 194 + 4096 + 323 + 6144  # type: ignore[index]


def test_stream_usage_input_only_on_first_image() -> None:
    job = gen(quality="low")
    assert usage_for(job, 1, 0, include_input=False)["input_tokens"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"n": 11}, "n", "integer_above_max_value"),
        ({"n": "2"}, "n", "invalid_type"),
        ({"size": "1000x1000"}, "size", "invalid_value"),  # not multiples of 16
        ({"size": "4096x1024"}, "size", "invalid_value"),  # edge > 3840
        ({"size": "3072x960"}, "size", "invalid_value"),  # ratio > 3:1
        ({"size": "800x800"}, "size", "invalid_value"),  # < 655,360 px
        ({"size": "3840x2400"}, "size", "invalid_value"),  # > 8,294,400 px
        ({"size": "big"}, "size", "invalid_value"),
        ({"quality": "hd"}, "quality", "invalid_value"),
        ({"quality": "xhigh"}, "quality", "invalid_value"),
        ({"background": "transparent"}, "background", "invalid_value"),
        ({"output_format": "bmp"}, "output_format", "invalid_value"),
        ({"output_format": "gif"}, "output_format", "unsupported_value"),
        ({"output_compression": 50}, "output_compression", "unsupported_parameter"),
        ({"output_format": "jpeg", "output_compression": 101}, "output_compression", "invalid_value"),
        ({"partial_images": 2}, "partial_images", "unsupported_parameter"),
        ({"stream": True, "partial_images": 4}, "partial_images", "invalid_value"),
        ({"response_format": "b64_json"}, "response_format", "unsupported_parameter"),
        ({"style": "vivid"}, "style", "unsupported_parameter"),
        ({"moderation": "none"}, "moderation", "invalid_value"),
        ({"input_fidelity": "high"}, "input_fidelity", "unknown_parameter"),  # an edits-only field
        ({"colour": "red"}, "colour", "unknown_parameter"),
        ({"prompt": None}, "prompt", "missing_required_parameter"),
        ({"prompt": "   "}, "prompt", "empty_string"),
        ({"prompt": "x" * 32_001}, "prompt", "string_above_max_length"),
        ({"model": None}, "model", "missing_required_parameter"),
    ],
)
def test_generation_validation_names_param(fields: dict[str, Any], param: str, code: str) -> None:
    error = error_of(gen, **fields)
    assert (error.status, error.type, error.param, error.code) == (400, "invalid_request_error", param, code)


def test_valid_custom_sizes_pass() -> None:
    for size in ("3840x2160", "1024x640", "2880x2880", "3072x1024", "1536x864"):
        assert gen(size=size).size == size


def test_table_models_only_standard_sizes() -> None:
    error = error_of(gen, model="gpt-image-1.5", size="1536x864")
    assert error.param == "size"
    assert gen(model="gpt-image-1.5", size="1024x1536").size == "1024x1536"


def test_transparent_rules() -> None:
    job = gen(model="gpt-image-1.5", background="transparent", output_format="webp")
    assert job.background == "transparent"
    assert error_of(gen, model="gpt-image-1.5", background="transparent", output_format="jpeg").param == "background"
    assert gen(model="gpt-image-2.5-flare", background="transparent").background == "transparent"


def test_quality_xhigh_and_max_only_on_25() -> None:
    assert gen(model="gpt-image-2.5-sunburst", quality="max").quality == "max"
    assert error_of(gen, model="gpt-image-1-mini", quality="max").param == "quality"


def test_unknown_and_retired_models_are_404() -> None:
    for model in ("gpt-image-9", "gpt-image-1", "dall-e-3", "dall-e-2"):
        error = error_of(gen, model=model)
        assert (error.status, error.code) == (404, "model_not_found")
    assert lookup_model("gpt-image-1", legacy_enabled=True).token_table is not None
    assert lookup_model("gpt-image-2-2026-04-21", legacy_enabled=False).family == "gpt-image-2"


def test_legacy_dalle_rules() -> None:
    job = validate_request(
        {"model": "dall-e-3", "prompt": "p", "size": "1792x1024", "quality": "hd", "style": "natural"},
        "generations",
        legacy_enabled=True,
    )
    assert (job.size, job.quality, job.response_format) == ("1792x1024", "hd", "url")
    assert usage_for(job, 1, 0) is None
    for fields, param in (({"n": 2}, "n"), ({"output_format": "png"}, "output_format"), ({"size": "512x512"}, "size")):
        error = error_of(
            validate_request, {"model": "dall-e-3", "prompt": "p", **fields}, "generations", legacy_enabled=True
        )
        assert error.param == param


def _edit(fields: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return validate_request({"model": "gpt-image-1.5", "prompt": "p", **(fields or {})}, "edits", **kwargs)


def test_edit_with_mask_and_sixteen_images_pass() -> None:
    assert _edit(images=[SQUARE_PNG], mask=MASK, has_mask=True).input_images == (SQUARE_PNG,)
    assert len(_edit(images=[SQUARE_PNG] * 16).input_images) == 16


@pytest.mark.parametrize(
    ("fields", "kwargs", "param"),
    [
        ({}, {"images": []}, "image"),
        ({}, {"images": [SQUARE_PNG] * 17}, "image"),
        ({}, {"images": [None]}, "image"),
        ({}, {"images": [ImageInfo("gif", 10, 10, False)]}, "image"),
        ({}, {"images": [SQUARE_PNG], "mask": ImageInfo("png", 1024, 1024, False), "has_mask": True}, "mask"),
        ({}, {"images": [SQUARE_PNG], "mask": ImageInfo("png", 512, 512, True), "has_mask": True}, "mask"),
        ({}, {"images": [SQUARE_PNG], "mask": ImageInfo("jpeg", 1024, 1024, False), "has_mask": True}, "mask"),
        ({}, {"images": [SQUARE_PNG], "mask": None, "has_mask": True}, "mask"),
        ({}, {"images": [SQUARE_PNG], "has_markup": True}, "markup"),
        ({"input_fidelity": "medium"}, {"images": [SQUARE_PNG]}, "input_fidelity"),
        ({"style": "vivid"}, {"images": [SQUARE_PNG]}, "style"),  # a generations-only field
    ],
)
def test_edit_validation_names_param(fields: dict[str, Any], kwargs: dict[str, Any], param: str) -> None:
    assert error_of(_edit, fields, **kwargs).param == param


def test_markup_only_on_25_and_not_with_mask() -> None:
    fields = {"model": "gpt-image-2.5-flare"}
    assert _edit(fields, images=[SQUARE_PNG], has_markup=True).model.id == "gpt-image-2.5-flare"
    error = error_of(_edit, fields, images=[SQUARE_PNG], has_markup=True, mask=MASK, has_mask=True)
    assert error.param == "markup"


def test_input_fidelity_per_model() -> None:
    def edit(model: str, fidelity: str) -> Any:
        return validate_request(
            {"model": model, "prompt": "p", "input_fidelity": fidelity}, "edits", images=[SQUARE_PNG]
        )

    assert error_of(edit, "gpt-image-2", "low").param == "input_fidelity"
    assert error_of(edit, "gpt-image-1-mini", "high").param == "input_fidelity"
    assert edit("gpt-image-1-mini", "low").input_fidelity == "low"
    assert edit("gpt-image-1.5", "high").input_fidelity == "high"


def test_coerce_form_fields() -> None:
    fields = coerce_form_fields({"n": "2", "stream": "true", "partial_images": "1", "prompt": "p", "svg[model]": "m"})
    assert fields == {"n": 2, "stream": True, "partial_images": 1, "prompt": "p", "svg": "m"}
    assert error_of(coerce_form_fields, {"n": "two"}).param == "n"
    assert error_of(coerce_form_fields, {"stream": "yes"}).param == "stream"


def test_safety_identifier_prefers_non_empty_safety_identifier() -> None:
    assert gen(user="u1", safety_identifier="").safety_identifier == "u1"
    assert gen(user="u1", safety_identifier="s1").safety_identifier == "s1"
    assert gen().safety_identifier is None


def test_every_current_sdk_model_we_claim_is_emulated() -> None:
    for model in (
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "gpt-image-1.5",
        "chatgpt-image-latest",
        "gpt-image-1-mini",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.5-flare",
    ):
        assert not MODELS[model].legacy
