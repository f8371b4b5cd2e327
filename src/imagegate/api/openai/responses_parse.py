"""Parsing ``POST /v1/responses`` with the ``image_generation`` tool into an ``ImageRequest``.

The body is kept as sent (``ImageRequest.native``) for an OpenAI route to receive faithfully; what
the gateway needs to price, check and emulate is read from it: the image tool's options (checked
against the values of the current ``openai`` SDK, ``types/responses/tool.py``), the text of the
input, and its ``input_image`` items (data URLs decoded; remote URLs only from the operator's
allowed hosts, never a private address). Anything else is refused with a 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from imagegate.api.openai.data_urls import image_from_data_url
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.providers.outbound import OutboundBlocked, check_addresses, host_allowed
from imagegate.service.gateway import RequestLimits

DIALECT = "openai-responses"
# The image tool's model when the client names none: the default of openai 3.63.0
# (types/responses/tool.py, ImageGeneration.model: "Default: `gpt-image-2.6-sunburst`").
DEFAULT_TOOL_MODEL = "gpt-image-2.6-sunburst"

# Every top-level field of ``responses.create`` (openai 3.63.0, ResponseCreateParamsBase + stream);
# their values are OpenAI's to check, except those read below.
KNOWN_FIELDS = frozenset(
    [
        "access_programs",
        "background",
        "background_options",
        "context_management",
        "conversation",
        "image",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    ]
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageMask(_Strict):
    """``input_image_mask``: a data URL or a Files API id."""

    image_url: StrictStr | None = None
    file_id: StrictStr | None = None


class ImageTool(_Strict):
    """The ``image_generation`` tool, field for field as the SDK types it."""

    type: Literal["image_generation"]
    action: Literal["generate", "edit", "auto"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    complexity: Literal["low", "medium", "high"] | None = None
    frame_count: StrictInt | None = None
    frame_duration_ms: StrictInt | None = None
    input_fidelity: Literal["high", "low"] | None = None
    input_image_mask: ImageMask | None = None
    model: StrictStr | None = None
    moderation: Literal["auto", "low"] | None = None
    output_compression: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    output_format: Literal["png", "webp", "jpeg", "gif", "svg"] | None = None
    partial_images: Annotated[StrictInt, Field(ge=0, le=3)] | None = None
    quality: Literal["low", "medium", "high", "xhigh", "max", "auto"] | None = None
    size: StrictStr | None = None
    svg: dict[str, Any] | None = None


class Body(BaseModel):
    """The fields the gateway reads; the rest pass through as sent."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr
    input: StrictStr | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    stream: StrictBool | None = None
    previous_response_id: StrictStr | None = None


def _invalid(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    first = exc.errors()[0]
    param = prefix + ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    return InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param)


def _image_tool(tools: list[dict[str, Any]] | None) -> ImageTool:
    if tools is None:
        raise InvalidRequest("Missing required parameter: 'tools' (an image_generation tool).", param="tools")
    found: ImageTool | None = None
    for index, tool in enumerate(tools):
        if tool.get("type") != "image_generation":
            continue  # other tools are OpenAI's to check
        if found is not None:
            raise InvalidRequest("Only one image_generation tool may be given.", param=f"tools[{index}]")
        try:
            found = ImageTool.model_validate(tool)
        except ValidationError as exc:
            raise _invalid(exc, f"tools[{index}].") from None
    if found is None:
        raise InvalidRequest("'tools' must include a tool of type 'image_generation'.", param="tools")
    return found


async def _remote_url(url: str, param: str, limits: RequestLimits) -> None:
    """A remote image URL is forwarded only from an allowed host that resolves to public addresses."""
    if not host_allowed(url, limits.input_image_hosts):
        raise InvalidRequest(
            f"Invalid '{param}': this gateway takes images by URL only from its allowed hosts; send a data URL.",
            param=param,
        )
    try:
        await check_addresses(url)
    except OutboundBlocked as exc:
        raise InvalidRequest(f"Invalid '{param}': {exc}", param=param) from None


async def _read_image(part: dict[str, Any], param: str, limits: RequestLimits) -> InputImage | None:
    url = part.get("image_url")
    if url is None:
        if not isinstance(part.get("file_id"), str):
            raise InvalidRequest(f"Missing required parameter: '{param}.image_url'.", param=f"{param}.image_url")
        return None  # a Files API id: OpenAI's to resolve
    if not isinstance(url, str):
        raise InvalidRequest(f"Invalid type for '{param}.image_url': expected a string.", param=f"{param}.image_url")
    if url.startswith("data:"):
        return image_from_data_url(url, f"{param}.image_url", limits)
    await _remote_url(url, f"{param}.image_url", limits)
    return None


async def _read_input(body: Body, limits: RequestLimits) -> tuple[list[str], list[InputImage]]:
    """The input's texts and decoded images, each ``input_image`` checked."""
    if isinstance(body.input, str):
        return [body.input], []
    texts: list[str] = []
    images: list[InputImage] = []
    for index, item in enumerate(body.input or []):
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        if not isinstance(content, list):
            continue  # image_generation_call references, item references ...: OpenAI's to resolve
        for position, part in enumerate(content):
            if not isinstance(part, dict):
                raise InvalidRequest("Invalid content part.", param=f"input[{index}].content[{position}]")
            kind = part.get("type")
            if kind == "input_text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "input_image":
                image = await _read_image(part, f"input[{index}].content[{position}]", limits)
                if image is not None:
                    images.append(image)
    if len(images) > limits.max_images:
        raise InvalidRequest(f"At most {limits.max_images} input images are allowed.", param="input")
    return texts, images


async def parse_response_request(body_bytes: bytes, limits: RequestLimits) -> ImageRequest:
    """A ``responses.create`` body as an ``ImageRequest`` (operation ``respond``)."""
    try:
        fields = orjson.loads(body_bytes)
    except orjson.JSONDecodeError:
        raise InvalidRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(fields, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for name in fields:
        if name not in KNOWN_FIELDS:
            raise InvalidRequest(f"Unknown parameter: '{name}'.", param=name)
    try:
        body = Body.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    tool = _image_tool(body.tools)
    texts, images = await _read_input(body, limits)
    mask = None
    if tool.input_image_mask is not None and tool.input_image_mask.image_url is not None:
        mask = image_from_data_url(tool.input_image_mask.image_url, "tools.input_image_mask.image_url", limits)
    return ImageRequest(
        operation="respond",
        model=body.model,
        prompt="\n".join(texts),
        dialect=DIALECT,
        size=tool.size,
        quality=tool.quality,
        background=tool.background,
        output_format=tool.output_format,
        output_compression=tool.output_compression,
        moderation=tool.moderation,
        input_fidelity=tool.input_fidelity,
        partial_images=tool.partial_images,
        stream=body.stream is True,
        images=images,
        mask=mask,
        native=fields,
        tool_model=tool.model if tool.model is not None else DEFAULT_TOOL_MODEL,
    )
