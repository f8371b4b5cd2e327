"""Checks on uploaded images made before any route is planned, so bad input never pays a provider.

Every dialect's uploads land in ``ImageRequest.images`` and ``ImageRequest.mask``; the planner calls
``check_uploads`` first. What is checked, and why here rather than at the provider:

- each file is PNG, JPEG or WebP **by its magic bytes** (the declared content type is the client's
  claim, not a fact): every image API the gateway routes to accepts those three;
- a mask has an alpha channel (its fully transparent pixels mark the edit area) and the pixel size of
  the first image. Pillow reads only the header (``Image.open`` is lazy) to learn size and mode,
  so a 50 MB upload is never decoded for it.

A failure is an ``InvalidRequest`` naming the client's own field (``image``, ``mask``, ``contents``).
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image, UnidentifiedImageError

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.image_format import sniff_mime
from imagegate.domain.request import ImageRequest, InputImage

ImageFormat = Literal["png", "jpeg", "webp"]

# Modes whose pixels carry alpha; "P" (palette) and "L"/"RGB" carry it only with a tRNS chunk.
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


_UPLOAD_FORMATS: dict[str, ImageFormat] = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def sniff_format(data: bytes) -> ImageFormat | None:
    """The image format ``data`` starts with (PNG, JPEG or WebP), or None for anything else."""
    return _UPLOAD_FORMATS.get(sniff_mime(data) or "")


def _describe(image: InputImage) -> str:
    return "an input image" if image.filename is None else f"'{image.filename}'"


def check_image_file(image: InputImage, param: str) -> ImageFormat:
    """The format of an uploaded image; ``InvalidRequest`` naming ``param`` unless PNG, JPEG or WebP."""
    found = sniff_format(image.data)
    if found is None:
        declared = "" if image.content_type is None else f" (declared as {image.content_type})"
        raise InvalidRequest(
            f"Invalid image file for '{param}': {_describe(image)}{declared} is not a PNG, JPEG or WebP image.",
            param=param,
        )
    return found


def _header(image: InputImage, param: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(image.data))  # lazy: reads the header, not the pixels
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidRequest(
            f"Invalid image file for '{param}': {_describe(image)} cannot be read as an image.", param=param
        ) from None


def _has_alpha(header: Image.Image) -> bool:
    return header.mode in _ALPHA_MODES or "transparency" in header.info


def check_mask(mask: InputImage, first_image: InputImage | None, *, mask_param: str, image_param: str) -> None:
    """A mask needs an alpha channel and the first image's pixel size."""
    check_image_file(mask, mask_param)
    with _header(mask, mask_param) as header:
        if not _has_alpha(header):
            raise InvalidRequest(
                f"Invalid mask for '{mask_param}': it has no alpha channel (mode {header.mode}); "
                "a mask must be a PNG with transparency, whose fully transparent pixels mark the area to edit.",
                param=mask_param,
            )
        mask_size = header.size
    if first_image is None:
        return
    with _header(first_image, image_param) as header:
        image_size = header.size
    if mask_size != image_size:
        raise InvalidRequest(
            f"Invalid mask for '{mask_param}': it is {mask_size[0]}x{mask_size[1]} pixels but the first "
            f"'{image_param}' is {image_size[0]}x{image_size[1]}; they must be the same size.",
            param=mask_param,
        )


def check_uploads(request: ImageRequest) -> None:
    """Refuse, before planning, uploads no provider should be paid to look at."""
    image_param = request.param_name("images")
    for image in request.images:
        check_image_file(image, image_param)
    if request.mask is not None:
        first = request.images[0] if request.images else None
        check_mask(request.mask, first, mask_param=request.param_name("mask"), image_param=image_param)
