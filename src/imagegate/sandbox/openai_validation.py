"""Validation of OpenAI Images requests, the way the API answers them: 400 naming the ``param``.

Pure: takes the parsed fields (and, for edits, the decoded headers of the uploaded images) and returns
an :class:`~imagegate.sandbox.openai_models.ImageJob` with every default resolved, or raises
:class:`~imagegate.sandbox.openai_models.OpenAIError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from imagegate.domain.size import parse_size
from imagegate.sandbox.openai_models import ImageJob, ModelSpec, bad_request, lookup_model
from imagegate.sandbox.render import ImageInfo

__all__ = ["EDIT_FIELDS", "GENERATION_FIELDS", "coerce_form_fields", "validate_request"]

MAX_EDIT_IMAGES = 16
# gpt-image-2 / 2.5 custom size rules (OpenAI guide).
SIZE_MULTIPLE, MAX_EDGE, MAX_RATIO, MIN_PIXELS, MAX_PIXELS = 16, 3840, 3, 655_360, 8_294_400

_COMMON_FIELDS = frozenset(
    {
        "prompt",
        "model",
        "n",
        "size",
        "quality",
        "background",
        "output_format",
        "output_compression",
        "moderation",
        "response_format",
        "stream",
        "partial_images",
        "user",
        "safety_identifier",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "svg",
    }
)
GENERATION_FIELDS = _COMMON_FIELDS | {"style"}
EDIT_FIELDS = _COMMON_FIELDS | {"image", "mask", "markup", "input_fidelity"}
_INT_FORM_FIELDS = frozenset({"n", "output_compression", "partial_images", "frame_count", "frame_duration_ms"})


def coerce_form_fields(form: Mapping[str, str]) -> dict[str, Any]:
    """Multipart text fields typed as their JSON equivalents (``"2"`` -> 2, ``"true"`` -> True).

    Nested fields such as ``svg[model]`` are kept under their top-level name.
    """
    fields: dict[str, Any] = {}
    for key, text in form.items():
        name = key.split("[", 1)[0]
        if name in _INT_FORM_FIELDS:
            try:
                fields[name] = int(text)
            except ValueError:
                raise bad_request(
                    name, f"Invalid '{name}': expected an integer, got {text!r}.", "invalid_type"
                ) from None
        elif name == "stream":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise bad_request("stream", f"Invalid 'stream': expected a boolean, got {text!r}.", "invalid_type")
            fields[name] = lowered == "true"
        else:
            fields[name] = text
    return fields


def _choice(fields: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    value = fields.get(name)
    if value is None:
        return default
    if value not in allowed:
        listed = ", ".join(f"'{v}'" for v in allowed)
        raise bad_request(name, f"Invalid value: '{value}'. Supported values are: {listed}.")
    return str(value)


def _int(fields: Mapping[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(name, f"Invalid type for '{name}': expected an integer.", "invalid_type")
    return value


def _resolve_size(spec: ModelSpec, value: object) -> tuple[int, int]:
    if value is None or value == "auto":
        return 1024, 1024  # the sandbox's reading of "auto"
    if not isinstance(value, str):
        raise bad_request("size", "Invalid type for 'size': expected a string.", "invalid_type")
    if not spec.custom_sizes:
        if value not in spec.sizes:
            listed = ", ".join(f"'{s}'" for s in (*spec.sizes, "auto"))
            raise bad_request("size", f"Invalid value: '{value}'. Supported values are: {listed}.")
        return parse_size(value)
    try:
        width, height = parse_size(value)
    except ValueError:
        raise bad_request("size", f"Invalid size '{value}': expected 'auto' or 'WIDTHxHEIGHT'.") from None
    problem = _custom_size_problem(width, height)
    if problem is not None:
        raise bad_request("size", f"Invalid size '{value}': {problem}.")
    return width, height


def _custom_size_problem(width: int, height: int) -> str | None:
    if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE or width == 0 or height == 0:
        return f"width and height must be positive multiples of {SIZE_MULTIPLE}"
    if max(width, height) > MAX_EDGE:
        return f"the longest edge must be at most {MAX_EDGE} pixels"
    if max(width, height) > MAX_RATIO * min(width, height):
        return f"the aspect ratio must be between 1:{MAX_RATIO} and {MAX_RATIO}:1"
    if not MIN_PIXELS <= width * height <= MAX_PIXELS:
        return f"the total pixel count must be between {MIN_PIXELS:,} and {MAX_PIXELS:,}"
    return None


def validate_request(
    fields: Mapping[str, Any],
    endpoint: str,
    *,
    legacy_enabled: bool = False,
    images: Sequence[ImageInfo | None] = (),
    mask: ImageInfo | None = None,
    has_mask: bool = False,
    has_markup: bool = False,
) -> ImageJob:
    """Check a generations/edits request the way the API does; raise ``OpenAIError`` naming
    the offending ``param``. For edits, ``images`` are the decoded headers of the uploaded images
    (None for a part that is not an image) and ``mask`` that of the mask.
    """
    known = GENERATION_FIELDS if endpoint == "generations" else EDIT_FIELDS
    for name in fields:
        if name not in known:
            raise bad_request(name, f"Unknown parameter: '{name}'.", "unknown_parameter")
    spec = lookup_model(fields.get("model"), legacy_enabled)
    prompt = _prompt(fields.get("prompt"), spec)
    n = _int(fields, "n")
    n = 1 if n is None else n
    if n < 1:
        raise bad_request(
            "n",
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} instead.",
            "integer_below_min_value",
        )
    if n > spec.max_n:
        raise bad_request(
            "n",
            f"Invalid 'n': integer above maximum value. Expected a value <= {spec.max_n}, but got {n} instead.",
            "integer_above_max_value",
        )
    width, height = _resolve_size(spec, fields.get("size"))
    quality = _quality(fields, spec)
    if spec.dalle:
        _reject_gpt_only(fields, spec)
        return _dalle_job(fields, endpoint, spec, prompt, n, width, height, quality, images, has_mask)
    for name in ("response_format", "style"):
        if fields.get(name) is not None:
            raise bad_request(
                name,
                f"'{name}' is not supported for GPT image models, which always return base64 images.",
                "unsupported_parameter",
            )
    output_format = fields.get("output_format")
    if output_format in ("gif", "svg"):
        raise bad_request(
            "output_format",
            f"output_format '{output_format}' needs preview access that the sandbox does not emulate.",
            "unsupported_value",
        )
    output_format = _choice(fields, "output_format", ("png", "jpeg", "webp"), "png")
    background = _choice(fields, "background", ("transparent", "opaque", "auto"), "auto")
    if background == "transparent" and not spec.transparent:
        raise bad_request("background", "Transparent background is not supported for this model.")
    if background == "transparent" and output_format not in ("png", "webp"):
        raise bad_request("background", "Transparent background requires output_format 'png' or 'webp'.")
    compression = _int(fields, "output_compression")
    if compression is not None:
        if output_format == "png":
            raise bad_request(
                "output_compression",
                "output_compression is only supported for 'jpeg' and 'webp' output.",
                "unsupported_parameter",
            )
        if not 0 <= compression <= 100:
            raise bad_request("output_compression", "Invalid 'output_compression': expected a value between 0 and 100.")
    _choice(fields, "moderation", ("auto", "low"), "auto")
    _choice(fields, "complexity", ("low", "medium", "high"), "medium")
    for name in ("frame_count", "frame_duration_ms", "svg"):
        if fields.get(name) is not None:
            raise bad_request(
                name,
                f"'{name}' is only supported with gif/svg output, which the sandbox does not emulate.",
                "unsupported_parameter",
            )
    stream, partials = _stream(fields)
    fidelity = _fidelity(fields, spec) if endpoint == "edits" else None
    inputs = _edit_inputs(spec, images, mask, has_mask, has_markup) if endpoint == "edits" else ()
    return ImageJob(
        endpoint=endpoint,
        model=spec,
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        quality=quality,
        background="transparent" if background == "transparent" else "opaque",
        output_format=output_format,
        output_compression=compression,
        stream=stream,
        partial_images=partials,
        input_fidelity=fidelity,
        safety_identifier=_safety_identifier(fields),
        input_images=inputs,
    )


def _prompt(value: object, spec: ModelSpec) -> str:
    if value is None:
        raise bad_request("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter")
    if not isinstance(value, str):
        raise bad_request("prompt", "Invalid type for 'prompt': expected a string.", "invalid_type")
    if value.strip() == "":
        raise bad_request("prompt", "Invalid 'prompt': empty string. Expected a non-empty prompt.", "empty_string")
    if len(value) > spec.max_prompt:
        raise bad_request(
            "prompt",
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{spec.max_prompt}, but got a string with length {len(value)} instead.",
            "string_above_max_length",
        )
    return value


def _quality(fields: Mapping[str, Any], spec: ModelSpec) -> str:
    if spec.dalle:
        # "auto" was never a DALL·E quality, but SDKs send it by default; read it as the first.
        value = fields.get("quality")
        return _choice({"quality": None if value == "auto" else value}, "quality", spec.qualities, spec.qualities[0])
    quality = _choice(fields, "quality", (*spec.qualities, "auto"), "auto")
    return "medium" if quality == "auto" else quality  # the sandbox's reading of "auto"


def _stream(fields: Mapping[str, Any]) -> tuple[bool, int]:
    stream = fields.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("stream", "Invalid type for 'stream': expected a boolean.", "invalid_type")
    partials = _int(fields, "partial_images")
    if partials is not None:
        if not 0 <= partials <= 3:
            raise bad_request("partial_images", "Invalid 'partial_images': expected a value between 0 and 3.")
        if stream is not True:
            raise bad_request(
                "partial_images", "'partial_images' is only supported when 'stream' is true.", "unsupported_parameter"
            )
    return stream is True, 0 if partials is None else partials


def _fidelity(fields: Mapping[str, Any], spec: ModelSpec) -> str | None:
    value = fields.get("input_fidelity")
    if value is None:
        return None
    if not spec.input_fidelity:
        raise bad_request(
            "input_fidelity",
            f"'input_fidelity' is not supported for {spec.id}; omit it (this model always uses high fidelity).",
            "unsupported_parameter",
        )
    if value not in ("low", "high"):
        raise bad_request("input_fidelity", f"Invalid value: '{value}'. Supported values are: 'low', 'high'.")
    if value not in spec.input_fidelity:
        raise bad_request(
            "input_fidelity", f"input_fidelity '{value}' is not supported for {spec.id}.", "unsupported_value"
        )
    return str(value)


def _edit_inputs(
    spec: ModelSpec, images: Sequence[ImageInfo | None], mask: ImageInfo | None, has_mask: bool, has_markup: bool
) -> tuple[ImageInfo, ...]:
    if not images:
        raise bad_request("image", "Missing required parameter: 'image'.", "missing_required_parameter")
    if len(images) > MAX_EDIT_IMAGES:
        raise bad_request("image", f"Too many images: at most {MAX_EDIT_IMAGES} are supported, got {len(images)}.")
    checked: list[ImageInfo] = []
    for info in images:
        if info is None or info.format not in ("png", "jpeg", "webp"):
            raise bad_request(
                "image", "Invalid image file or mode: images must be png, jpeg or webp.", "invalid_image_format"
            )
        checked.append(info)
    if has_markup:
        if not spec.markup:
            raise bad_request("markup", f"'markup' is not supported for {spec.id}.", "unsupported_parameter")
        if has_mask:
            raise bad_request("markup", "'markup' cannot be combined with 'mask'.", "unsupported_parameter")
    if has_mask:
        _check_mask(mask, checked[0])
    return tuple(checked)


def _check_mask(mask: ImageInfo | None, first: ImageInfo) -> None:
    if mask is None or mask.format != "png":
        raise bad_request("mask", "Invalid mask: the mask must be a PNG image.", "invalid_image_format")
    if not mask.has_alpha:
        raise bad_request("mask", "Invalid mask: the mask must have an alpha channel.", "invalid_image_format")
    if (mask.width, mask.height) != (first.width, first.height):
        raise bad_request(
            "mask",
            f"Invalid mask: the mask is {mask.width}x{mask.height} but the image is "
            f"{first.width}x{first.height}; they must be the same size.",
            "invalid_image_dimensions",
        )


def _safety_identifier(fields: Mapping[str, Any]) -> str | None:
    # The SDK: a non-empty safety_identifier wins, else the deprecated `user`.
    for name in ("safety_identifier", "user"):
        value = fields.get(name)
        if isinstance(value, str) and value != "":
            return value
    return None


def _reject_gpt_only(fields: Mapping[str, Any], spec: ModelSpec) -> None:
    for name in (
        "background",
        "output_format",
        "output_compression",
        "moderation",
        "partial_images",
        "input_fidelity",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "svg",
        "markup",
    ):
        if fields.get(name) is not None:
            raise bad_request(name, f"'{name}' is not supported for {spec.id}.", "unsupported_parameter")
    if fields.get("stream") is True:
        raise bad_request("stream", f"Streaming is not supported for {spec.id}.", "unsupported_parameter")


def _dalle_job(
    fields: Mapping[str, Any],
    endpoint: str,
    spec: ModelSpec,
    prompt: str,
    n: int,
    width: int,
    height: int,
    quality: str,
    images: Sequence[ImageInfo | None],
    has_mask: bool,
) -> ImageJob:
    response_format = _choice(fields, "response_format", ("url", "b64_json"), "url")
    if fields.get("style") is not None and spec.id != "dall-e-3":
        raise bad_request("style", "'style' is only supported for dall-e-3.", "unsupported_parameter")
    _choice(fields, "style", ("vivid", "natural"), "vivid")
    if endpoint == "edits":
        if spec.id != "dall-e-2":
            raise bad_request("model", f"Image edits are not supported for {spec.id}.", "unsupported_value")
        if len(images) != 1 or images[0] is None or images[0].format != "png" or images[0].width != images[0].height:
            raise bad_request("image", "dall-e-2 edits take exactly one square PNG image.", "invalid_image_format")
    return ImageJob(
        endpoint=endpoint,
        model=spec,
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        quality=quality,
        background="opaque",
        output_format="png",
        output_compression=None,
        stream=False,
        partial_images=0,
        response_format=response_format,
    )
