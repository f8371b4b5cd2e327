"""Small helpers shared by the sandbox tests."""

from __future__ import annotations

import base64
import io

from PIL import Image

API_KEY = "sk-test"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def decode_image(b64: str) -> Image.Image:
    """A fully loaded Pillow image from base64."""
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def encoded_image(width: int, height: int, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """A small real image file of the given size, mode and format."""
    buffer = io.BytesIO()
    fill = (0, 0, 0, 0) if mode == "RGBA" else (120, 80, 40)
    Image.new(mode, (width, height), fill).save(buffer, fmt)
    return buffer.getvalue()
