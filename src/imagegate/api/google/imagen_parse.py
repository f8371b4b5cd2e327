"""Parsing the Imagen dialect (``:predict`` bodies) into ``ImageRequest``.

``{"instances": [{"prompt": ...}], "parameters": {...}}``. ``sampleCount`` absent means 4 on the
wire, so the canonical ``n`` is 4 then: a route of another dialect makes the four images Imagen
would have made, and pricing reserves four. Kept in ``native`` for an Imagen route; mapped:

- ``sampleCount`` -> ``n``; ``aspectRatio`` -> ``aspect_ratio``; ``sampleImageSize`` -> ``resolution``;
- ``outputOptions.mimeType``/``compressionQuality`` -> ``output_format``/``output_compression``;
- ``seed`` -> ``seed``;
- ``includeRaiReason``, ``includeSafetyAttributes``: only shape Imagen's own report of filtered
  images, which no other provider produces; ``language``: a prompt-language hint other models do
  not need. These three are honoured by Imagen routes and have no effect elsewhere;
- anything else (``personGeneration``, ``safetySetting``, ``negativePrompt``, ``enhancePrompt``,
  ``guidanceScale`` ...) -> ``extra`` as ``parameters.<name>``: a route of another dialect
  translates it (Gemini: personGeneration on Vertex, safetySetting) or refuses it by name.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from imagegate.api.google.gemini_parse import camel, decode_inline
from imagegate.api.http import read_body
from imagegate.domain.errors import InvalidRequest, MissingParameter
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.service.gateway import RequestLimits
from imagegate.service.input_checks import check_image_file

DIALECT = "imagen"
# What Imagen makes when ``sampleCount`` is absent (the wire default, not 1).
DEFAULT_SAMPLE_COUNT = 4

_CANONICAL = frozenset({"sampleCount", "aspectRatio", "sampleImageSize", "outputOptions", "seed"})
_REPORT_ONLY = frozenset({"includeRaiReason", "includeSafetyAttributes", "language"})
_PARAM_NAMES = {
    "prompt": "instances[0].prompt",
    "n": "parameters.sampleCount",
    "aspect_ratio": "parameters.aspectRatio",
    "resolution": "parameters.sampleImageSize",
    "output_format": "parameters.outputOptions.mimeType",
    "output_compression": "parameters.outputOptions.compressionQuality",
    "seed": "parameters.seed",
    "stream": "predict",
}


def _invalid(message: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _typed(parameters: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = parameters.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise _invalid(f"Invalid value at 'parameters.{name}': expected {what}.", f"parameters.{name}")
    return value


def _image_bytes(value: object, where: str) -> None:
    """An Imagen ``Image`` object's inline bytes must be PNG, JPEG or WebP (a ``gcsUri`` is not ours to read)."""
    if not isinstance(value, dict):
        return
    data = value.get("bytesBase64Encoded", value.get("bytes_base64_encoded"))
    if data is not None:
        field = f"{where}.bytesBase64Encoded"
        check_image_file(InputImage(data=decode_inline(data, field)), field)


def _check_instance_images(instance: dict[str, Any]) -> None:
    """Images an instance carries (Vertex editing: ``image``, ``referenceImages``), checked before any route."""
    _image_bytes(instance.get("image"), "instances[0].image")
    references = instance.get("referenceImages")
    if not isinstance(references, list):
        return
    for index, reference in enumerate(references):
        if isinstance(reference, dict):
            where = f"instances[0].referenceImages[{index}].referenceImage"
            _image_bytes(reference.get("referenceImage", reference.get("reference_image")), where)


def to_request(body: dict[str, Any], model: str) -> ImageRequest:
    """A parsed ``:predict`` body -> the canonical request."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise _invalid("'instances' must be a list holding exactly one instance.", "instances")
    instance = {camel(key): value for key, value in instances[0].items()}
    prompt = instance.get("prompt")
    if prompt is None:
        raise MissingParameter("Missing required field 'instances[0].prompt'.", param="instances[0].prompt")
    if not isinstance(prompt, str):
        raise _invalid("Invalid value at 'instances[0].prompt': expected a string.", "instances[0].prompt")
    _check_instance_images(instance)
    extra: dict[str, Any] = {f"instances.{name}": value for name, value in instance.items() if name != "prompt"}
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _invalid("'parameters' must be an object.", "parameters")
    parameters = {camel(key): value for key, value in parameters.items()}
    for name, value in parameters.items():
        if name not in _CANONICAL and name not in _REPORT_ONLY:
            extra[f"parameters.{name}"] = value
    for name, value in body.items():
        if name not in ("instances", "parameters"):
            extra[name] = value
    options = parameters.get("outputOptions", {})
    if not isinstance(options, dict):
        raise _invalid("'parameters.outputOptions' must be an object.", "parameters.outputOptions")
    options = {camel(key): value for key, value in options.items()}
    mime = options.get("mimeType")
    if mime is not None and (not isinstance(mime, str) or not mime.startswith("image/")):
        raise _invalid(
            "'parameters.outputOptions.mimeType' must be an image MIME type.", "parameters.outputOptions.mimeType"
        )
    quality = options.get("compressionQuality")
    if quality is not None and (not isinstance(quality, int) or isinstance(quality, bool)):
        raise _invalid(
            "'parameters.outputOptions.compressionQuality' must be an integer.",
            "parameters.outputOptions.compressionQuality",
        )
    count = _typed(parameters, "sampleCount", int, "an integer")
    native = dict(body)
    native["parameters"] = parameters
    return ImageRequest(
        operation="generate",
        model=model,
        prompt=prompt,
        dialect=DIALECT,
        n=DEFAULT_SAMPLE_COUNT if count is None else count,
        aspect_ratio=_typed(parameters, "aspectRatio", str, "a string"),
        resolution=_typed(parameters, "sampleImageSize", str, "a string"),
        output_format=None if mime is None else mime.removeprefix("image/"),
        output_compression=quality,
        seed=_typed(parameters, "seed", int, "an integer"),
        extra=extra,
        param_names=dict(_PARAM_NAMES),
        native=native,
    )


async def parse_predict(request: Request, model: str, *, limits: RequestLimits) -> ImageRequest:
    """A ``POST .../models/{model}:predict`` body."""
    raw = await read_body(request, limits.max_body_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("Invalid JSON payload received.", None) from None
    if not isinstance(body, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.", None)
    return to_request(body, model)
