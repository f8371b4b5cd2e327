"""Input images given inline as base64 data URLs (Responses ``input_image``, a batch file's edit lines)."""

from __future__ import annotations

import base64
import binascii

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import InputImage
from imagegate.service.gateway import RequestLimits


def image_from_data_url(url: str, param: str, limits: RequestLimits) -> InputImage:
    """The image a ``data:image/...;base64,`` URL holds; ``InvalidRequest`` naming ``param`` otherwise."""
    header, _, data = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        raise InvalidRequest(f"Invalid '{param}': expected a base64 data URL of an image.", param=param)
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"Invalid '{param}': the data URL is not valid base64.", param=param) from None
    if len(decoded) > limits.max_image_bytes:
        raise InvalidRequest(f"'{param}' is larger than {limits.max_image_bytes} bytes.", param=param)
    return InputImage(data=decoded, content_type=header[5:-7])
