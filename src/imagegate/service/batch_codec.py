"""What a batch keeps of each line's request: its options, never image bytes or base64.

A batch is settled long after it was submitted, by re-planning each line (docs/batch.md, "What is
billed"), so the stored fields must plan again exactly as at submission. An edit line's input
images are not kept (they can be megabytes each and the provider has them); the line keeps each
image's pixel size (and the mask's), and is planned at settlement with header-only PNG stand-ins
of those sizes: a PNG signature, an RGBA ``IHDR`` and empty ``IDAT``/``IEND`` chunks, about 60
bytes, which every header read (the edit checks, the pricing rules' tile counts) takes for the
real image. They are never sent: a settlement sends nothing, and pricing reads the usage the
provider reported, falling back to the rules only when the provider reported no input counters.
"""

from __future__ import annotations

from typing import Any

from imagegate.domain.request import ImageRequest, InputImage
from imagegate.pricing.inputs import header_only_png, image_dimensions

# The canonical fields a batch line keeps.
_REQUEST_FIELDS = (
    "operation",
    "model",
    "prompt",
    "dialect",
    "n",
    "size",
    "quality",
    "background",
    "output_format",
    "output_compression",
    "moderation",
    "input_fidelity",
    "user",
    "aspect_ratio",
    "resolution",
    "seed",
    "extra",
)
_IMAGE_SIZES = "input_image_sizes"
_MASK_SIZE = "mask_size"


def _stand_in(width: int, height: int) -> InputImage:
    return header_only_png(width, height, "stand-in.png")


def encode_line_request(request: ImageRequest) -> dict[str, Any]:
    """The stored form of a line's request (JSON-able; no image bytes). Its images passed the
    upload checks when the line was planned, so their headers read."""
    fields = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    if request.images:
        fields[_IMAGE_SIZES] = [list(size) for size in image_dimensions(request.images)]
    if request.mask is not None:
        fields[_MASK_SIZE] = list(image_dimensions([request.mask])[0])
    return fields


def decode_line_request(stored: dict[str, Any]) -> ImageRequest:
    """The request to plan a stored line with (an edit's inputs as stand-ins, see the module doc)."""
    fields = dict(stored)
    sizes = fields.pop(_IMAGE_SIZES, [])
    mask_size = fields.pop(_MASK_SIZE, None)
    return ImageRequest(
        **fields,
        images=[_stand_in(int(width), int(height)) for width, height in sizes],
        mask=None if mask_size is None else _stand_in(int(mask_size[0]), int(mask_size[1])),
    )
