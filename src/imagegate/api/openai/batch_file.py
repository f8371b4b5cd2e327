"""Reading a batch file: JSONL, one Images request body per line, with an optional ``custom_id``.

A line is a ``/v1/images/generations`` body, or a JSON ``/v1/images/edits`` body (OpenAI's
``EditImageBodyJsonParam``): ``images`` is a list of ``{"image_url": "data:image/...;base64,..."}``
and ``mask`` one such object. Only data URLs are taken: a remote URL would be fetched by the
provider hours later, out of the gateway's sight (nothing checked, nothing for another provider to
read), and a ``file_id`` names a file in the provider account behind the gateway, which a client
cannot upload to. A file holds generations or edits, not both (OpenAI runs one endpoint per batch).
"""

from __future__ import annotations

from typing import Any

import orjson

from imagegate.api.openai.data_urls import image_from_data_url
from imagegate.api.openai.parse import edit_from_fields, generation_from_fields
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.service.batches import BatchInput
from imagegate.service.gateway import RequestLimits


def _image_ref(value: Any, param: str, limits: RequestLimits) -> InputImage:
    """One ``ImageRefParam`` of an edit line, held as a data URL."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid type for '{param}': expected an object with 'image_url'.", param=param)
    if "file_id" in value:
        raise InvalidRequest(
            f"'{param}.file_id' is not accepted in a batch file: a file id names a file of the provider "
            f"account behind the gateway. Send the image as a data URL in '{param}.image_url'.",
            param=f"{param}.file_id",
        )
    url = value.get("image_url")
    if not isinstance(url, str):
        raise InvalidRequest(f"Missing required parameter: '{param}.image_url'.", param=f"{param}.image_url")
    if not url.startswith("data:"):
        raise InvalidRequest(
            f"Invalid '{param}.image_url': a batch file takes input images as base64 data URLs "
            "(data:image/png;base64,...), not remote URLs.",
            param=f"{param}.image_url",
        )
    return image_from_data_url(url, f"{param}.image_url", limits)


def _edit(fields: dict[str, Any], limits: RequestLimits) -> ImageRequest:
    if "image" in fields:
        raise InvalidRequest("Unknown parameter: 'image'; a JSON edit names its inputs in 'images'.", param="image")
    refs = fields.pop("images")
    if not isinstance(refs, list) or not refs:
        raise InvalidRequest("Invalid value for 'images': expected a non-empty list of image objects.", param="images")
    if len(refs) > limits.max_images:
        raise InvalidRequest(f"Too many input images: {len(refs)}; the limit is {limits.max_images}.", param="images")
    images = [_image_ref(ref, f"images[{index}]", limits) for index, ref in enumerate(refs)]
    mask = None if fields.get("mask") is None else _image_ref(fields.pop("mask"), "mask", limits)
    fields.pop("mask", None)
    return edit_from_fields(fields, images, mask)


def parse_batch_file(content: bytes, limits: RequestLimits | None = None) -> list[BatchInput]:
    """The requests of a batch file; ``InvalidRequest`` naming the line for a bad one.

    Blank lines are skipped; a line without ``custom_id`` gets ``line-N`` (N counts from 1);
    a ``model`` in a line is ignored (the batch's model applies to every line). A line with
    ``images`` is an edit; the first request line decides whether the file is of edits.
    """
    limits = RequestLimits() if limits is None else limits
    inputs: list[BatchInput] = []
    seen: set[str] = set()
    edits: bool | None = None
    for number, raw in enumerate(content.splitlines(), start=1):
        if raw.strip() == b"":
            continue
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest(f"line {number}: not valid JSON.", param="file") from None
        if not isinstance(fields, dict):
            raise InvalidRequest(f"line {number}: a request must be a JSON object.", param="file")
        custom_id = fields.pop("custom_id", None)
        if custom_id is None:
            custom_id = f"line-{number}"
        if not isinstance(custom_id, str) or custom_id == "" or "/" in custom_id:
            raise InvalidRequest(
                f"line {number}: 'custom_id' must be a non-empty string without '/'.", param="custom_id"
            )
        if custom_id in seen:
            raise InvalidRequest(f"line {number}: custom_id {custom_id!r} is used twice.", param="custom_id")
        seen.add(custom_id)
        fields.pop("model", None)
        is_edit = "images" in fields
        if edits is not None and is_edit != edits:
            kind, other = ("an edit", "generations") if is_edit else ("a generation", "edits")
            raise InvalidRequest(
                f"line {number}: {kind} in a file of {other}; a batch holds generations or edits, not both.",
                param="images",
            )
        edits = is_edit
        try:
            request = _edit(fields, limits) if is_edit else generation_from_fields(fields)
        except InvalidRequest as error:
            raise InvalidRequest(f"line {number}: {error.message}", param=error.param) from None
        inputs.append(BatchInput(custom_id, request))
    return inputs
