"""Validation of ``generateContent`` requests the way the Gemini API answers: 400 ``INVALID_ARGUMENT``.

Pure: takes the parsed body and returns a :class:`GeminiJob` with every default resolved, or
raises :class:`~imagegate.sandbox.gemini_models.GoogleError`. Field names are accepted in
camelCase and snake_case, as Google's JSON parser does; inline data in standard or URL-safe base64.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from typing import Any

from imagegate.sandbox.gemini_models import GeminiModel, google_error
from imagegate.sandbox.render import ImageInfo, inspect_image

__all__ = ["GeminiJob", "camel_keys", "validate_generate_content"]

_TOP_LEVEL = frozenset(
    {
        "contents",
        "generationConfig",
        "safetySettings",
        "tools",
        "toolConfig",
        "systemInstruction",
        "cachedContent",
        "labels",
        "serviceTier",
        "model",
    }
)
_CONFIG_FIELDS = frozenset(
    {
        "responseModalities",
        "candidateCount",
        "imageConfig",
        "temperature",
        "topP",
        "topK",
        "seed",
        "maxOutputTokens",
        "stopSequences",
        "thinkingConfig",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "mediaResolution",
    }
)
_IMAGE_CONFIG_FIELDS = frozenset(
    {
        "aspectRatio",
        "imageSize",
        "personGeneration",
        "outputMimeType",
        "outputCompressionQuality",
        "imageOutputOptions",
        "prominentPeople",
    }
)
_VERTEX_ONLY_IMAGE_CONFIG = (
    "personGeneration",
    "outputMimeType",
    "outputCompressionQuality",
    "imageOutputOptions",
    "prominentPeople",
)
_IMAGE_MIME = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
_CATEGORIES = frozenset(
    {
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    }
)
_THRESHOLDS = frozenset({"BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"})
_PERSON = frozenset({"ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE"})
_SNAKE = re.compile(r"_([a-z])")


def _camel(name: str) -> str:
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


def camel_keys(value: Any, *, depth: int = 0) -> Any:
    """Field names camel-cased down to the part level (user data below that is left alone)."""
    if isinstance(value, dict):
        return {
            _camel(key): (item if key == "labels" or depth > 4 else camel_keys(item, depth=depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [camel_keys(item, depth=depth + 1) for item in value]
    return value


@dataclass(frozen=True)
class GeminiJob:
    """A validated request with its defaults resolved."""

    model: GeminiModel
    prompt: str  # every text part, joined (directives are looked for here)
    ratio: str
    size: str  # size tier; "1K" for models without tiers
    width: int
    height: int
    want_text: bool
    want_image: bool
    stream: bool
    vertex: bool
    input_images: tuple[ImageInfo, ...] = field(default=())

    @property
    def prompt_tokens(self) -> int:
        """Text tokens of the prompt: ceil(len / 4), a deterministic estimate."""
        return max(1, math.ceil(len(self.prompt) / 4))


def _decode(data: object) -> bytes:
    if not isinstance(data, str) or data == "":
        raise google_error(
            "Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), Base64 decoding failed.",
            field_name="contents.parts.inline_data.data",
        )
    text = data.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise google_error(
            f"Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), Base64 "
            f'decoding failed for "{data[:20]}..."',
            field_name="contents.parts.inline_data.data",
        ) from None


def _parts(body: dict[str, Any], spec: GeminiModel) -> tuple[list[str], list[ImageInfo]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise google_error("* GenerateContentRequest.contents: contents is not specified", field_name="contents")
    texts: list[str] = []
    images: list[ImageInfo] = []
    for turn in contents:
        parts = turn.get("parts") if isinstance(turn, dict) else None
        if not isinstance(parts, list) or not parts:
            raise google_error(
                "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.",
                field_name="contents.parts",
            )
        if turn.get("role") not in (None, "user", "model"):
            raise google_error("Please use a valid role: user, model.", field_name="contents.role")
        for part in parts:
            if not isinstance(part, dict):
                raise google_error("Invalid value at 'contents[0].parts[0]': expected an object.")
            if isinstance(part.get("text"), str):
                if part.get("thought") is not True and turn.get("role") != "model":
                    texts.append(part["text"])
            elif isinstance(part.get("inlineData"), dict):
                blob = part["inlineData"]
                mime = blob.get("mimeType")
                if mime not in _IMAGE_MIME:
                    raise google_error(
                        f"Unsupported MIME type: {mime}", field_name="contents.parts.inline_data.mime_type"
                    )
                info = inspect_image(_decode(blob.get("data")))
                if info is None:
                    raise google_error(
                        "Unable to process input image. Please retry or report in "
                        "https://developers.generativeai.google/guide/troubleshooting"
                    )
                if turn.get("role") != "model":
                    images.append(info)
            elif "fileData" in part or "thoughtSignature" in part:
                continue
            else:
                raise google_error(
                    f'Invalid JSON payload received. Unknown name "{next(iter(part), "")}" at '
                    "'contents[0].parts[0]': Cannot find field."
                )
    if len(images) > spec.max_input_images:
        raise google_error(
            f"Too many images in the request: {len(images)}; {spec.id} accepts at most {spec.max_input_images}.",
            field_name="contents.parts.inline_data",
        )
    return texts, images


def _check_unknown(fields: dict[str, Any], known: frozenset[str], where: str) -> None:
    for name in fields:
        if name not in known:
            at = f" at '{where}'" if where else ""
            raise google_error(
                f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.',
                field_name=f"{where}.{name}" if where else name,
            )


def _safety(body: dict[str, Any]) -> None:
    settings = body.get("safetySettings")
    if settings is None:
        return
    if not isinstance(settings, list):
        raise google_error("Invalid value at 'safety_settings': expected a list.", field_name="safety_settings")
    for item in settings:
        if not isinstance(item, dict) or item.get("category") not in _CATEGORIES:
            raise google_error(
                f"Invalid value at 'safety_settings[0].category': {item!r}", field_name="safety_settings.category"
            )
        if item.get("threshold") not in _THRESHOLDS:
            raise google_error(
                f"Invalid value at 'safety_settings[0].threshold': {item.get('threshold')!r}",
                field_name="safety_settings.threshold",
            )


def _tools(body: dict[str, Any], spec: GeminiModel) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise google_error("Invalid value at 'tools': expected a list.", field_name="tools")
    for tool in tools:
        if isinstance(tool, dict) and "googleSearch" in tool and not spec.search_tool:
            raise google_error(f"Search as tool is not enabled for models/{spec.id}", field_name="tools")


def _ratio_for(spec: GeminiModel, config: dict[str, Any], images: list[ImageInfo]) -> str:
    ratio = config.get("aspectRatio")
    if ratio is None:
        if not images:
            return "1:1"
        # Edits follow the first input image's shape, like the real models.
        first = images[0]
        return min(
            spec.ratios,
            key=lambda r: abs(
                math.log(first.width / first.height) - math.log(int(r.split(":")[0]) / int(r.split(":")[1]))
            ),
        )
    if ratio not in spec.ratios:
        raise google_error(
            f"Unsupported aspect ratio: {ratio}. Supported values are: {', '.join(spec.ratios)}.",
            field_name="generation_config.image_config.aspect_ratio",
        )
    return str(ratio)


def _size_for(spec: GeminiModel, config: dict[str, Any]) -> str:
    size = config.get("imageSize")
    if size is None:
        return "1K"
    if not spec.image_sizes:
        raise google_error(
            f"Image size is not supported for models/{spec.id}.", field_name="generation_config.image_config.image_size"
        )
    if size not in spec.image_sizes:
        # Only capital K: "1k" is rejected, as the API does.
        raise google_error(
            f"Unsupported image size: {size}. Supported values are: {', '.join(spec.image_sizes)}.",
            field_name="generation_config.image_config.image_size",
        )
    return str(size)


def validate_generate_content(body: dict[str, Any], spec: GeminiModel, *, stream: bool, vertex: bool) -> GeminiJob:
    """Check a camel-cased ``generateContent`` body; raise ``GoogleError`` like the API does."""
    _check_unknown(body, _TOP_LEVEL, "")
    texts, images = _parts(body, spec)
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise google_error("Invalid value at 'generation_config': expected an object.", field_name="generation_config")
    _check_unknown(config, _CONFIG_FIELDS, "generation_config")
    image_config = config.get("imageConfig") or {}
    if not isinstance(image_config, dict):
        raise google_error(
            "Invalid value at 'generation_config.image_config'.", field_name="generation_config.image_config"
        )
    _check_unknown(image_config, _IMAGE_CONFIG_FIELDS, "generation_config.image_config")
    if not vertex:
        for name in _VERTEX_ONLY_IMAGE_CONFIG:
            if name in image_config:
                raise google_error(
                    f"{name} is not supported in the Gemini API.", field_name=f"generation_config.image_config.{name}"
                )
    elif "personGeneration" in image_config and image_config["personGeneration"] not in _PERSON:
        raise google_error(
            f"Invalid personGeneration: {image_config['personGeneration']}",
            field_name="generation_config.image_config.person_generation",
        )
    count = config.get("candidateCount")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise google_error(
            "candidate_count must be a positive integer.", field_name="generation_config.candidate_count"
        )
    if count is not None and count > 1:
        raise google_error(
            f"Multiple candidates is not enabled for models/{spec.id}", field_name="generation_config.candidate_count"
        )
    modalities = config.get("responseModalities", ["TEXT", "IMAGE"])
    if not isinstance(modalities, list) or not modalities or not set(modalities) <= {"TEXT", "IMAGE"}:
        raise google_error(
            f"Unsupported response modalities: {modalities}", field_name="generation_config.response_modalities"
        )
    _safety(body)
    _tools(body, spec)
    ratio = _ratio_for(spec, image_config, images)
    size = _size_for(spec, image_config)
    width, height = spec.shape(ratio, size)
    return GeminiJob(
        model=spec,
        prompt="\n".join(texts),
        ratio=ratio,
        size=size,
        width=width,
        height=height,
        want_text="TEXT" in modalities,
        want_image="IMAGE" in modalities,
        stream=stream,
        vertex=vertex,
        input_images=tuple(images),
    )
