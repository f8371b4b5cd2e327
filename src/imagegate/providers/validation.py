"""Checks a canonical request against a provider model's declared capabilities.

Shared by every adapter so that "n out of range", "size the model can't make" and friends read
the same whatever the provider; each error names the client's own parameter.
"""

from __future__ import annotations

from imagegate.domain.capabilities import Capabilities, CustomSizeRule
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.domain.size import SIZE_SPELLING, parse_size


def _reject(request: ImageRequest, field: str, message: str) -> InvalidRequest:
    name = request.param_name(field)
    return InvalidRequest(message.format(param=name), param=name)


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


def check_custom_size(width: int, height: int, rule: CustomSizeRule) -> str | None:
    """Why ``width x height`` breaks the rule, or None when it is valid."""
    if width % rule.multiple_of or height % rule.multiple_of:
        return f"both edges must be multiples of {rule.multiple_of}"
    if max(width, height) > rule.max_edge:
        return f"the longest edge must be at most {rule.max_edge}"
    if max(width, height) > rule.max_aspect_ratio * min(width, height):
        return f"the aspect ratio must be at most {rule.max_aspect_ratio:g}:1"
    pixels = width * height
    if not rule.min_pixels <= pixels <= rule.max_pixels:
        return f"total pixels must be between {rule.min_pixels:,} and {rule.max_pixels:,}"
    return None


def invalid_size(request: ImageRequest, size: str) -> InvalidRequest:
    """The 400 for a size that is not ``auto`` or a canonical ``WIDTHxHEIGHT`` (see ``domain.size``)."""
    return _reject(request, "size", f"Invalid '{{param}}' {size!r}: expected 'auto' or {SIZE_SPELLING}")


def validate_size(request: ImageRequest, caps: Capabilities, model: str) -> None:
    """Reject a size the model cannot make."""
    size = request.size
    if size is None or size in caps.sizes:
        return
    if caps.custom_size is not None:
        try:
            width, height = parse_size(size)
        except ValueError:
            raise invalid_size(request, size) from None
        problem = check_custom_size(width, height, caps.custom_size)
        if problem is None:
            return
        raise _reject(request, "size", f"Invalid '{{param}}' {size!r} for {model}: {problem}")
    if not caps.sizes:
        raise _reject(request, "size", f"'{{param}}' is not supported by {model}")
    raise _reject(request, "size", f"Invalid '{{param}}' {size!r} for {model}; supported: {_choices(caps.sizes)}")


def validate_request(request: ImageRequest, caps: Capabilities, model: str) -> None:
    """Raise ``InvalidRequest`` for the first parameter ``model`` cannot honour."""
    if request.operation not in caps.operations:
        raise InvalidRequest(f"{model} does not support image {request.operation}s", param="model")
    if not request.prompt:
        raise _reject(request, "prompt", "'{param}' is required and must not be empty")
    if caps.max_prompt_chars is not None and len(request.prompt) > caps.max_prompt_chars:
        raise _reject(
            request,
            "prompt",
            f"'{{param}}' is {len(request.prompt)} characters long; {model} takes at most {caps.max_prompt_chars}",
        )
    if request.n is not None and not 1 <= request.n <= caps.max_n:
        raise _reject(request, "n", f"'{{param}}' must be between 1 and {caps.max_n} for {model}, got {request.n}")
    validate_size(request, caps, model)
    _validate_choice(request, "quality", caps.qualities, model)
    _validate_choice(request, "output_format", caps.output_formats, model)
    _validate_choice(request, "moderation", caps.moderation_levels, model)
    _validate_choice(request, "aspect_ratio", caps.aspect_ratios, model)
    _validate_choice(request, "resolution", caps.resolutions, model)
    _validate_choice(request, "style", caps.styles, model)
    _validate_background(request, caps, model)
    _validate_compression(request, caps, model)
    _validate_inputs(request, caps, model)
    _validate_streaming(request, caps, model)
    if request.seed is not None and not caps.seed:
        raise _reject(request, "seed", f"'{{param}}' is not supported by {model}")


def _validate_choice(request: ImageRequest, field: str, allowed: tuple[str, ...], model: str) -> None:
    value = getattr(request, field)
    if value is None or value in allowed:
        return
    if not allowed:
        raise _reject(request, field, f"'{{param}}' is not supported by {model}")
    raise _reject(request, field, f"Invalid '{{param}}' {value!r} for {model}; supported: {_choices(allowed)}")


def _validate_background(request: ImageRequest, caps: Capabilities, model: str) -> None:
    background = request.background
    if background is None:
        return
    if caps.backgrounds and background not in caps.backgrounds:
        raise _reject(
            request, "background", f"Invalid '{{param}}' {background!r}; supported: {_choices(caps.backgrounds)}"
        )
    if background != "transparent":
        return
    if not caps.transparent_background:
        raise _reject(request, "background", f"{model} cannot make a transparent '{{param}}'")
    if request.output_format not in (None, "png", "webp"):
        raise _reject(request, "background", "a transparent '{param}' needs output_format 'png' or 'webp'")


def _validate_compression(request: ImageRequest, caps: Capabilities, model: str) -> None:
    compression = request.output_compression
    if compression is None:
        return
    if not 0 <= compression <= 100:
        raise _reject(request, "output_compression", "'{param}' must be between 0 and 100")
    if request.output_format in (None, "png"):
        raise _reject(request, "output_compression", "'{param}' applies only to output_format 'jpeg' or 'webp'")


def _validate_inputs(request: ImageRequest, caps: Capabilities, model: str) -> None:
    if request.operation == "edit" and not request.images:
        raise _reject(request, "images", "an edit needs at least one input '{param}'")
    if len(request.images) > caps.max_input_images:
        raise _reject(
            request,
            "images",
            f"{model} accepts at most {caps.max_input_images} input images, got {len(request.images)}",
        )
    if request.mask is not None and not caps.mask:
        raise _reject(request, "mask", f"'{{param}}' is not supported by {model}")
    fidelity = request.input_fidelity
    if fidelity is not None:
        if not caps.input_fidelities:
            raise _reject(request, "input_fidelity", f"'{{param}}' must be omitted for {model}")
        if fidelity not in caps.input_fidelities:
            raise _reject(
                request,
                "input_fidelity",
                f"Invalid '{{param}}' {fidelity!r} for {model}; supported: {_choices(caps.input_fidelities)}",
            )


def _validate_streaming(request: ImageRequest, caps: Capabilities, model: str) -> None:
    if request.stream and not caps.streaming:
        raise _reject(request, "stream", f"'{{param}}' is not supported by {model}")
    partials = request.partial_images
    if partials is None:
        return
    if not request.stream:
        raise _reject(request, "partial_images", "'{param}' requires stream=true")
    if not 0 <= partials <= caps.max_partial_images:
        raise _reject(request, "partial_images", f"'{{param}}' must be between 0 and {caps.max_partial_images}")
