"""The pixel size of a base64-encoded image without decoding all of it.

Translated answers report the size actually produced (``x-imagegate-size``); Google's bodies do not
state it, so it is read from the image header. Only a prefix is decoded: PNG puts the size in its
first 24 bytes, JPEG in a frame header that follows the metadata segments (a few KB, rarely more).
"""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image

_PREFIX_CHARS = 256 * 1024  # decodes to 192 KB: room for EXIF/ICC segments before a JPEG frame


def image_size_from_b64(data: str) -> tuple[int, int] | None:
    """``(width, height)`` of the image in ``data`` (standard or URL-safe base64), or None."""
    prefix = data[: _PREFIX_CHARS - _PREFIX_CHARS % 4]
    try:
        raw = base64.b64decode(prefix.replace("-", "+").replace("_", "/") + "=" * (-len(prefix) % 4))
    except (binascii.Error, ValueError):
        return None
    try:
        with Image.open(io.BytesIO(raw)) as image:
            return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
