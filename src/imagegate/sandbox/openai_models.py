"""OpenAI Images emulation as data: the models, their token rules, the error type and usage.

Facts come from ``shared/reference/providers.md`` §1 and ``pricing.md`` §1, checked against the
``openai`` 3.52 SDK types (where they disagree, the SDK wins). Pure: no I/O.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imagegate.pricing.token_rules import area_formula_output_tokens, table_output_tokens, tile_input_image_tokens
from imagegate.sandbox.render import ImageInfo, RenderSpec, seed_from

__all__ = [
    "MODELS",
    "ImageJob",
    "ModelSpec",
    "OpenAIError",
    "b64_text",
    "bad_request",
    "lookup_model",
    "output_tokens_per_image",
    "render_spec",
    "usage_for",
]

STANDARD_SIZES = ("1024x1024", "1024x1536", "1536x1024")
# Output tokens per image for models before gpt-image-2 (OpenAI guide, "Cost and latency").
LEGACY_TOKEN_TABLE: Mapping[str, Mapping[str, int]] = {
    "1024x1024": {"low": 272, "medium": 1056, "high": 4160},
    "1024x1536": {"low": 408, "medium": 1584, "high": 6240},
    "1536x1024": {"low": 400, "medium": 1568, "high": 6208},
}
GPT_IMAGE_2_FACTORS: Mapping[str, int] = {"low": 16, "medium": 48, "high": 96}
GPT_IMAGE_25_FACTORS: Mapping[str, int] = {"low": 16, "medium": 24, "high": 48, "xhigh": 64, "max": 96}
HIGH_FIDELITY_EXTRA = (4096, 6144)  # input tokens added per image: square, other
PARTIAL_IMAGE_TOKENS = 100


class OpenAIError(Exception):
    """An error answer in OpenAI's shape: ``{"error": {message, type, param, code, ...extra}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error envelope."""
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return {"error": {**error, **self.extra}}


def bad_request(param: str | None, message: str, code: str | None = "invalid_value") -> OpenAIError:
    """A 400 ``invalid_request_error`` naming ``param``."""
    return OpenAIError(400, message, param=param, code=code)


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What one model id accepts and how its tokens are counted."""

    id: str
    family: str
    qualities: tuple[str, ...] = ("low", "medium", "high")
    custom_sizes: bool = False
    quality_factors: Mapping[str, int] | None = None  # area-formula models
    token_table: Mapping[str, Mapping[str, int]] | None = None  # table models
    transparent: bool = True
    input_fidelity: tuple[str, ...] = ("low", "high")  # allowed values; () = must be omitted
    always_high_fidelity: bool = False
    markup: bool = False
    legacy: bool = False
    dalle: bool = False
    sizes: tuple[str, ...] = STANDARD_SIZES
    max_n: int = 10
    max_prompt: int = 32_000


def _gpt2(model_id: str) -> ModelSpec:
    return ModelSpec(
        model_id,
        "gpt-image-2",
        custom_sizes=True,
        quality_factors=GPT_IMAGE_2_FACTORS,
        transparent=False,
        input_fidelity=(),
        always_high_fidelity=True,
    )


def _gpt25(model_id: str) -> ModelSpec:
    return ModelSpec(
        model_id,
        "gpt-image-2.5",
        qualities=("low", "medium", "high", "xhigh", "max"),
        custom_sizes=True,
        quality_factors=GPT_IMAGE_25_FACTORS,
        input_fidelity=(),
        always_high_fidelity=True,
        markup=True,
    )


def _table(
    model_id: str, family: str, *, fidelity: tuple[str, ...] = ("low", "high"), legacy: bool = False
) -> ModelSpec:
    return ModelSpec(model_id, family, token_table=LEGACY_TOKEN_TABLE, input_fidelity=fidelity, legacy=legacy)


_ALL_MODELS: tuple[ModelSpec, ...] = (
    _gpt2("gpt-image-2"),
    _gpt2("gpt-image-2-2026-04-21"),
    _gpt25("gpt-image-2.5-sunburst"),
    _gpt25("gpt-image-2.5-sunburst-2026-09-08"),
    _gpt25("gpt-image-2.5-flare"),
    _gpt25("gpt-image-2.5-flare-2026-09-08"),
    _table("gpt-image-1.5", "gpt-image-1.5"),
    _table("chatgpt-image-latest", "gpt-image-1.5"),
    # The SDK documents "only low" input fidelity for mini.
    _table("gpt-image-1-mini", "gpt-image-1-mini", fidelity=("low",)),
    # Retired: answered only in legacy mode.
    _table("gpt-image-1", "gpt-image-1", legacy=True),
    ModelSpec(
        "dall-e-3",
        "dall-e-3",
        qualities=("standard", "hd"),
        transparent=False,
        input_fidelity=(),
        legacy=True,
        dalle=True,
        sizes=("1024x1024", "1792x1024", "1024x1792"),
        max_n=1,
        max_prompt=4000,
    ),
    ModelSpec(
        "dall-e-2",
        "dall-e-2",
        qualities=("standard",),
        transparent=False,
        input_fidelity=(),
        legacy=True,
        dalle=True,
        sizes=("256x256", "512x512", "1024x1024"),
        max_prompt=1000,
    ),
)
MODELS: Mapping[str, ModelSpec] = {spec.id: spec for spec in _ALL_MODELS}


def lookup_model(model: object, legacy_enabled: bool) -> ModelSpec:
    """The spec for ``model``; 400 if missing, 404 ``model_not_found`` if unknown or retired."""
    if model is None:
        raise bad_request("model", "Missing required parameter: 'model'.", "missing_required_parameter")
    if not isinstance(model, str):
        raise bad_request("model", "Invalid type for 'model': expected a string.", "invalid_type")
    spec = MODELS.get(model)
    if spec is None or (spec.legacy and not legacy_enabled):
        note = " It has been retired." if spec is not None else ""
        raise OpenAIError(
            404, f"The model `{model}` does not exist or you do not have access to it.{note}", code="model_not_found"
        )
    return spec


@dataclass(frozen=True)
class ImageJob:
    """A validated request with every default resolved (``auto`` size/quality/background)."""

    endpoint: str  # "generations" | "edits"
    model: ModelSpec
    prompt: str
    n: int
    width: int
    height: int
    quality: str
    background: str  # "opaque" | "transparent"
    output_format: str
    output_compression: int | None
    stream: bool
    partial_images: int
    input_fidelity: str | None = None
    response_format: str = "b64_json"
    safety_identifier: str | None = None
    input_images: tuple[ImageInfo, ...] = field(default=())

    @property
    def size(self) -> str:
        """The resolved size as a ``WxH`` string."""
        return f"{self.width}x{self.height}"


def output_tokens_per_image(job: ImageJob) -> int:
    """Image output tokens for one image of ``job`` by the model's published rule."""
    spec = job.model
    if spec.quality_factors is not None:
        return area_formula_output_tokens(job.width, job.height, spec.quality_factors[job.quality])
    if spec.token_table is not None:
        return table_output_tokens(spec.token_table, job.size, job.quality)
    return 0


def _input_image_tokens(job: ImageJob) -> int:
    high = job.model.always_high_fidelity or job.input_fidelity == "high"
    extra = HIGH_FIDELITY_EXTRA if high else None
    return sum(tile_input_image_tokens(i.width, i.height, high_fidelity_extra=extra) for i in job.input_images)


def usage_for(job: ImageJob, images: int, partials: int, *, include_input: bool = True) -> dict[str, Any] | None:
    """The ``usage`` object for ``images`` final images and ``partials`` streamed partial images.

    Text tokens are a deterministic estimate, ceil(len(prompt) / 4). With ``include_input`` false
    the input side is zero (used for the second and later images of a streamed n > 1 request, so
    the completed events add up to the request's usage). None for DALL·E, which reports no usage.
    """
    if job.model.dalle:
        return None
    text = math.ceil(len(job.prompt) / 4) if include_input else 0
    image_in = _input_image_tokens(job) if include_input else 0
    output = output_tokens_per_image(job) * images + PARTIAL_IMAGE_TOKENS * partials
    return {
        "input_tokens": text + image_in,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
        "output_tokens": output,
        "total_tokens": text + image_in + output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
    }


def render_spec(job: ImageJob, index: int, partial: tuple[int, int] | None = None) -> RenderSpec:
    """What to draw for image ``index`` of ``job`` (a streaming preview when ``partial`` is set).

    Seeded by model family, prompt and index: the same request gives the same images, and the
    ``n`` images of one request differ.
    """
    return RenderSpec(
        job.width,
        job.height,
        job.output_format,
        job.background == "transparent",
        seed_from(job.model.family, job.prompt, index),
        job.output_compression,
        partial,
    )


def b64_text(data: bytes) -> str:
    """``data`` as base64 text, as ``b64_json`` carries it."""
    return base64.b64encode(data).decode("ascii")
