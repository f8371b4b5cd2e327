"""What pricing reads from a request: image count, prompt size, input-image dimensions, and the
choice of a size or quality among a rule's options (exact when the request names one, the most
expensive when it leaves the choice to the provider).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from io import BytesIO
from typing import TypeVar

from PIL import Image

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.pricing.charge import PricingError
from imagegate.pricing.rows import PriceRow

AUTO = "auto"
# Prompt tokens are estimated as one per 4 UTF-8 bytes, rounded up: the usual English ratio of
# ~4 characters per token, and closer than characters for scripts whose characters take 2-3
# bytes and about one token each.
PROMPT_BYTES_PER_TOKEN = 4

S = TypeVar("S")
Q = TypeVar("Q")
T = TypeVar("T", int, Decimal)


def requested_n(request: ImageRequest, price: PriceRow) -> int:
    """Images the provider will generate: ``n`` as sent, else the provider's default (Imagen: 4)."""
    return price.default_n if request.n is None else request.n


def prompt_tokens(prompt: str) -> int:
    """Estimated text tokens of a prompt (see ``PROMPT_BYTES_PER_TOKEN``)."""
    return -(-len(prompt.encode("utf-8")) // PROMPT_BYTES_PER_TOKEN)


def image_dimensions(images: Iterable[InputImage]) -> list[tuple[int, int]]:
    """``(width, height)`` of each uploaded image, read from its header (pixels are not decoded)."""
    sizes = []
    for index, image in enumerate(images):
        try:
            with Image.open(BytesIO(image.data)) as opened:
                sizes.append(opened.size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise InvalidRequest(f"input image {index} is not a readable image", param="image") from exc
    return sizes


def pick(
    candidates: Sequence[str | None],
    default: str | None,
    options: Iterable[str],
    accepts: Callable[[str], bool],
    *,
    what: str,
    strict: bool = False,
) -> tuple[list[str], bool]:
    """Choose a size or quality: ``([choice], True)`` when exact, ``(options, False)`` to bound.

    The first candidate the rule ``accepts`` wins. When the request named nothing, the provider's
    ``default`` is exact. ``auto``, or a value the rule does not price, bounds over ``options``
    (the caller takes the most expensive); with ``strict`` an unpriced value raises instead.
    """
    named = [value for value in candidates if value is not None]
    for value in named:
        if value != AUTO and accepts(value):
            return [value], True
    if not named and default is not None and accepts(default):
        return [default], True
    unpriced = [value for value in named if value != AUTO]
    if strict and unpriced:
        raise PricingError(f"{what} {unpriced[0]!r} is not priced for this model")
    bound = list(options)
    if not bound:
        raise PricingError(f"no {what} is priced for this model")
    return bound, False


def most_expensive(sizes: Sequence[S], qualities: Sequence[Q], cost: Callable[[S, Q], T | None]) -> T:
    """The highest ``cost`` over every size x quality pair that has one."""
    costs = [c for s in sizes for q in qualities if (c := cost(s, q)) is not None]
    if not costs:
        raise PricingError(f"no price for sizes {list(sizes)} x qualities {list(qualities)}")
    return max(costs)


def header_only_png(width: int, height: int, filename: str) -> InputImage:
    """A PNG of ``width`` x ``height`` made of its header alone: no pixels allocated or encoded.

    Stands in for an image known only by its size (an estimate's reference images, a stored batch
    line's inputs): everything that prices or checks inputs reads sizes from headers. 8-bit RGBA,
    so a mask stand-in has the alpha channel the real mask had to have.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    return InputImage(data=data, filename=filename, content_type="image/png")
