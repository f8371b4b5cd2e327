"""The JSON form of ``POST /v1/images/edits`` (the OpenAPI spec's ``EditImageBodyJsonParam``).

Beside multipart, OpenAI takes an edit as JSON: ``images`` is a list of ``ImageRefParam`` objects
and ``mask`` one, each with exactly one of ``image_url`` (a URL or a base64 data URL) and
``file_id``; GPT image models only. The OpenAI Batch API sends edit lines this way. The sandbox
decodes data URLs; it downloads nothing and keeps no image files, so a remote URL or a file id is
a 400 naming the field (docs/sandbox.md).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from imagegate.sandbox.openai_models import OpenAIError
from imagegate.sandbox.render import ImageInfo, inspect_image


@dataclass
class JsonEditInputs:
    """The decoded headers of a JSON edit's images (None: not an image) and of its mask."""

    images: list[ImageInfo | None] = field(default_factory=list)
    mask: ImageInfo | None = None
    has_mask: bool = False


def _ref(value: Any, param: str, limit: int) -> ImageInfo | None:
    if not isinstance(value, dict) or ("image_url" in value) == ("file_id" in value):
        raise OpenAIError(400, f"Invalid '{param}': provide exactly one of 'image_url' or 'file_id'.", param=param)
    if "file_id" in value:
        raise OpenAIError(
            400, f"No such File object: {value['file_id']}", param=f"{param}.file_id", code="image_file_not_found"
        )
    url = value["image_url"]
    if not isinstance(url, str) or not url.startswith("data:"):
        raise OpenAIError(
            400,
            f"Invalid '{param}.image_url': the sandbox downloads no remote images; send a base64 data URL.",
            param=f"{param}.image_url",
            code="invalid_image_url",
        )
    header, _, data = url.partition(",")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not header.endswith(";base64") or not decoded:
        raise OpenAIError(
            400,
            f"Invalid base64 image in '{param}.image_url'.",
            param=f"{param}.image_url",
            code="invalid_base64_image",
        )
    if len(decoded) > limit:
        raise OpenAIError(
            400, f"'{param}' is larger than {limit // (1024 * 1024)} MB.", param=param, code="file_too_large"
        )
    return inspect_image(decoded)


def json_edit_inputs(fields: dict[str, Any], *, max_image_bytes: int, max_mask_bytes: int) -> JsonEditInputs:
    """Pop ``images`` and ``mask`` off a JSON edit body and decode them; ``OpenAIError`` naming the field."""
    model = fields.get("model")
    if isinstance(model, str) and model.startswith("dall-e"):
        raise OpenAIError(
            400, "JSON image edits support GPT image models only; send dall-e-2 edits as multipart.", param="model"
        )
    if "image" in fields:
        raise OpenAIError(400, "Unknown parameter: 'image'.", param="image", code="unknown_parameter")
    refs = fields.pop("images", None)
    if not isinstance(refs, list) or not refs:
        raise OpenAIError(
            400, "Missing required parameter: 'images'.", param="images", code="missing_required_parameter"
        )
    inputs = JsonEditInputs(images=[_ref(ref, f"images[{i}]", max_image_bytes) for i, ref in enumerate(refs)])
    mask = fields.pop("mask", None)
    if mask is not None:
        inputs.has_mask, inputs.mask = True, _ref(mask, "mask", max_mask_bytes)
    return inputs
