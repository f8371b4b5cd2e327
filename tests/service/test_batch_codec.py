"""A batch line's stored request: no image bytes, and stand-ins that read like the inputs they replace."""

from __future__ import annotations

import io

import orjson
from PIL import Image

from imagegate.domain.request import ImageRequest, InputImage
from imagegate.pricing.inputs import image_dimensions
from imagegate.service.batch_codec import decode_line_request, encode_line_request
from imagegate.service.input_checks import check_uploads


def _png(width: int, height: int, mode: str) -> InputImage:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, "PNG")
    return InputImage(buffer.getvalue(), content_type="image/png")


def test_an_edit_is_stored_without_bytes_and_decoded_with_stand_ins_of_the_same_sizes():
    request = ImageRequest(
        operation="edit",
        model="m",
        prompt="add a hat",
        dialect="openai-images",
        input_fidelity="high",
        images=[_png(1536, 1024, "RGB"), _png(640, 480, "RGB")],
        mask=_png(1536, 1024, "RGBA"),
    )
    stored = orjson.loads(orjson.dumps(encode_line_request(request)))  # as the database returns it
    assert len(orjson.dumps(stored)) < 500  # options and sizes only
    decoded = decode_line_request(stored)
    assert (decoded.operation, decoded.prompt, decoded.input_fidelity) == ("edit", "add a hat", "high")
    assert image_dimensions(decoded.images) == [(1536, 1024), (640, 480)]
    assert decoded.mask is not None and image_dimensions([decoded.mask]) == [(1536, 1024)]
    assert all(len(image.data) < 100 for image in decoded.images)
    check_uploads(decoded)  # the edit checks pass again at settlement: PNG bytes, a mask with alpha, same size


def test_a_generation_decodes_to_itself():
    request = ImageRequest(operation="generate", model="m", prompt="a fox", dialect="openai-images", n=2)
    decoded = decode_line_request(encode_line_request(request))
    assert (decoded.images, decoded.mask, decoded.n, decoded.prompt) == ([], None, 2, "a fox")
