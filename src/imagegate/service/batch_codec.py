"""What a batch keeps of each line's request: its options, never image bytes or base64.

A batch is settled long after it was submitted, by re-planning each line (docs/batch.md, "What is
billed"), so the stored fields must plan again exactly as at submission. An edit line's input
images are not kept (they can be megabytes each and the provider has them); the line keeps how
many there were and whether a mask came with them, and is planned at settlement with as many
1x1 stand-in PNGs. The stand-ins only satisfy the edit checks (an edit has an image; a mask has
alpha and the first image's size) and count the inputs for pricing; they are never sent: a
settlement sends nothing, and pricing reads the usage the provider reported.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from PIL import Image

from imagegate.domain.request import ImageRequest, InputImage

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
_IMAGE_COUNT = "input_images"
_HAS_MASK = "has_mask"


@functools.cache
def _stand_in_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _stand_in() -> InputImage:
    return InputImage(data=_stand_in_png(), filename="stand-in.png", content_type="image/png")


def encode_line_request(request: ImageRequest) -> dict[str, Any]:
    """The stored form of a line's request (JSON-able; no image bytes)."""
    fields = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    if request.images:
        fields[_IMAGE_COUNT] = len(request.images)
    if request.mask is not None:
        fields[_HAS_MASK] = True
    return fields


def decode_line_request(stored: dict[str, Any]) -> ImageRequest:
    """The request to plan a stored line with (an edit's inputs as stand-ins, see the module doc)."""
    fields = dict(stored)
    count = int(fields.pop(_IMAGE_COUNT, 0))
    has_mask = bool(fields.pop(_HAS_MASK, False))
    return ImageRequest(**fields, images=[_stand_in() for _ in range(count)], mask=_stand_in() if has_mask else None)
