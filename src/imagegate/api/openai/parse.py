"""Parsing the OpenAI Images dialect (JSON generations, multipart edits) into ``ImageRequest``."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from imagegate.api.http import body_chunks, read_body
from imagegate.api.openai.fields import check_known
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.service.gateway import RequestLimits

DIALECT = "openai-images"


class ImageParams(BaseModel):
    """The fields of ``/images/generations`` and ``/images/edits`` the gateway models.

    Other fields the SDK sends (``safety_identifier`` ...; see ``api.openai.fields``) are kept in
    ``extra`` and reach an OpenAI route as sent; names the SDK never sends were refused already.
    """

    model_config = ConfigDict(extra="allow")

    prompt: StrictStr
    model: StrictStr | None = None
    n: StrictInt | None = None
    size: StrictStr | None = None
    quality: StrictStr | None = None
    background: StrictStr | None = None
    output_format: StrictStr | None = None
    output_compression: StrictInt | None = None
    moderation: StrictStr | None = None
    input_fidelity: StrictStr | None = None
    partial_images: StrictInt | None = None
    stream: StrictBool | None = None
    user: StrictStr | None = None
    style: StrictStr | None = None
    response_format: StrictStr | None = None


_INT_FIELDS = ("n", "output_compression", "partial_images")
_BOOL_FIELDS = ("stream",)


def _invalid(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    return InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param)


def _to_request(
    fields: dict[str, Any],
    operation: str,
    images: list[InputImage],
    mask: InputImage | None,
    endpoint_fields: frozenset[str] = frozenset(),
) -> ImageRequest:
    check_known((name for name in fields if name not in endpoint_fields), operation)
    try:
        params = ImageParams.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    extra = dict(params.model_extra or {})
    return ImageRequest(
        operation="generate" if operation == "generate" else "edit",
        model=params.model or "",
        prompt=params.prompt,
        dialect=DIALECT,
        n=params.n,
        size=params.size,
        quality=params.quality,
        background=params.background,
        output_format=params.output_format,
        output_compression=params.output_compression,
        moderation=params.moderation,
        input_fidelity=params.input_fidelity,
        partial_images=params.partial_images,
        stream=params.stream is True,
        user=params.user,
        style=params.style,
        response_format=params.response_format,
        images=images,
        mask=mask,
        extra=extra,
        param_names={"images": "image"},
    )


def generation_from_fields(fields: dict[str, Any]) -> ImageRequest:
    """A ``/v1/images/generations`` body already decoded (a batch file's line)."""
    return _to_request(fields, "generate", [], None)


def edit_from_fields(fields: dict[str, Any], images: list[InputImage], mask: InputImage | None) -> ImageRequest:
    """A JSON ``/v1/images/edits`` body already decoded, its ``images``/``mask`` read (a batch file's line)."""
    request = _to_request(fields, "edit", images, mask)
    request.param_names = {"images": "images"}
    return request


async def parse_generation(
    request: Request, limits: RequestLimits, endpoint_fields: frozenset[str] = frozenset()
) -> ImageRequest:
    """A ``POST /v1/images/generations`` JSON body; ``endpoint_fields`` are the calling endpoint's own
    fields beside the Images ones (a job's ``metadata``): kept in ``extra`` for it, never refused."""
    body = await read_body(request, limits.max_body_bytes)
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload.)"
        ) from None
    if not isinstance(fields, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return _to_request(fields, "generate", [], None, endpoint_fields)


def _form_scalar(name: str, value: str) -> Any:
    if name in _INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            raise InvalidRequest(
                f"Invalid value for '{name}': expected an integer, got {value!r}.", param=name
            ) from None
    if name in _BOOL_FIELDS:
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise InvalidRequest(f"Invalid value for '{name}': expected true or false, got {value!r}.", param=name)
        return lowered == "true"
    return value


async def _upload(part: UploadFile, param: str, limits: RequestLimits) -> InputImage:
    data = await part.read()
    if len(data) > limits.max_image_bytes:
        raise InvalidRequest(
            f"Input image '{part.filename}' is {len(data)} bytes; the limit is {limits.max_image_bytes} bytes.",
            param=param,
        )
    if len(data) == 0:
        raise InvalidRequest(f"Input image '{part.filename}' is empty.", param=param)
    return InputImage(data=data, filename=part.filename, content_type=part.content_type)


class _TerminatedMultipart(MultiPartParser):
    """Starlette's streaming multipart parser, noting whether the closing boundary arrived."""

    terminated = False

    def on_end(self) -> None:
        self.terminated = True


async def _read_form(request: Request, limits: RequestLimits) -> FormData:
    """The multipart form, parsed as the body arrives (file parts spool to disk past 1 MB), never
    buffering more than ``max_body_bytes``; a body cut off before its closing boundary is refused."""
    parser = _TerminatedMultipart(
        request.headers,
        body_chunks(request, limits.max_body_bytes),
        max_files=256,
        max_fields=200,
        max_part_size=1024 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"We could not parse the multipart body of your request: {exc.message}") from None
    if not parser.terminated:
        await form.close()
        raise InvalidRequest(
            "The multipart body of your request ends before its closing boundary: it was cut off or is malformed."
        )
    return form


async def parse_edit(
    request: Request, limits: RequestLimits, endpoint_fields: frozenset[str] = frozenset()
) -> ImageRequest:
    """A ``POST /v1/images/edits`` multipart body (``image[]`` parts and/or ``image``, ``mask``)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest("Image edits must be sent as multipart/form-data.")
    form = await _read_form(request, limits)
    try:
        fields: dict[str, Any] = {}
        parts: list[UploadFile] = []
        mask: InputImage | None = None
        for name, value in form.multi_items():
            if name in ("image", "image[]"):
                if not isinstance(value, UploadFile):
                    raise InvalidRequest("'image' must be a file upload.", param="image")
                parts.append(value)
            elif name == "mask":
                if not isinstance(value, UploadFile):
                    raise InvalidRequest("'mask' must be a file upload.", param="mask")
                mask = await _upload(value, "mask", limits)
            elif isinstance(value, UploadFile):
                fields[name] = value.filename
            else:
                fields[name] = _form_scalar(name, value)
        if len(parts) > limits.max_images:
            raise InvalidRequest(
                f"Too many input images: {len(parts)}; the limit is {limits.max_images}.", param="image"
            )
        images = [await _upload(part, "image", limits) for part in parts]
    finally:
        await form.close()
    return _to_request(fields, "edit", images, mask, endpoint_fields)
