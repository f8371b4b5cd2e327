"""Building a ``generateContent`` body: the client's own body for Gemini-dialect requests, or one
made from the canonical request for every other dialect (see docs/translation.md).
"""

from __future__ import annotations

import base64
from typing import Any

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.image_format import sniff_mime as sniff_image
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.providers.gemini.parameters import (
    DIALECT,
    HARM_CATEGORIES,
    PARAMETERS,
    PERSON_GENERATION,
    SAFETY_THRESHOLDS,
)


def sniff_mime(image: InputImage) -> str:
    """The image's MIME type from its first bytes (uploads often say ``application/octet-stream``)."""
    sniffed = sniff_image(image.data)
    if sniffed is not None:
        return sniffed
    declared = image.content_type
    return declared if declared is not None and declared.startswith("image/") else "image/png"


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def _image_part(image: InputImage) -> dict[str, Any]:
    return {"inlineData": {"mimeType": sniff_mime(image), "data": base64.b64encode(image.data).decode("ascii")}}


def _safety_settings(value: Any) -> list[dict[str, str]]:
    threshold = SAFETY_THRESHOLDS.get(value.lower()) if isinstance(value, str) else None
    if threshold is None:
        allowed = ", ".join(SAFETY_THRESHOLDS)
        raise InvalidRequest(
            f"Invalid 'parameters.safetySetting' {value!r}; supported: {allowed}", param="parameters.safetySetting"
        )
    return [{"category": category, "threshold": threshold} for category in HARM_CATEGORIES]


def _person_generation(value: Any, vertex: bool, model: str) -> str:
    if not vertex:
        raise InvalidRequest(
            f"'parameters.personGeneration' cannot be honoured by {model} on the Gemini API "
            "(Gemini image models take it on Vertex AI only); omit it",
            param="parameters.personGeneration",
        )
    mapped = PERSON_GENERATION.get(value.lower()) if isinstance(value, str) else None
    if mapped is None:
        raise InvalidRequest(
            f"Invalid 'parameters.personGeneration' {value!r}; supported: {', '.join(PERSON_GENERATION)}",
            param="parameters.personGeneration",
        )
    return mapped


def translated_body(request: ImageRequest, model: str, *, vertex: bool) -> dict[str, Any]:
    """A generateContent body for a request that arrived in another dialect."""
    parts: list[dict[str, Any]] = [{"text": request.prompt}]
    parts.extend(_image_part(image) for image in request.images)
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    for path, value in PARAMETERS.apply(request, model).items():
        _set_path(config, path, value)
    if config.get("candidateCount") == 1:
        del config["candidateCount"]
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}
    person = request.extra.get("parameters.personGeneration")
    if person is not None:
        _set_path(config, "imageConfig.personGeneration", _person_generation(person, vertex, model))
    safety = request.extra.get("parameters.safetySetting")
    if safety is not None:
        body["safetySettings"] = _safety_settings(safety)
    return body


def native_body(request: ImageRequest) -> dict[str, Any]:
    """The client's own Gemini body, with ``candidateCount`` set to this call's share of ``n``.

    The body is copied one level deep only where it changes; reference images are not touched.
    """
    assert request.native is not None
    body = dict(request.native)
    config = body.get("generationConfig")
    config = dict(config) if isinstance(config, dict) else {}
    sent = config.get("candidateCount")
    if request.n is not None and request.n != sent and not (request.n == 1 and sent is None):
        config["candidateCount"] = request.n
        body["generationConfig"] = config
    return body


def body_for(request: ImageRequest, model: str, *, vertex: bool) -> dict[str, Any]:
    """The request body for ``model``, whatever dialect the request arrived in."""
    if request.dialect == DIALECT and request.native is not None:
        return native_body(request)
    return translated_body(request, model, vertex=vertex)
