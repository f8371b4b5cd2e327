"""Synthetic images with Pillow: a seeded gradient and shapes, labelled "imagegate sandbox".

Images are drawn small and resized, then encoded with cheap settings (PNG ``compress_level=1``, WebP
``method=0``), so a 1024x1024 image costs tens of milliseconds. Encoded results are cached by
(size, format, background, seed, ...). A :class:`Renderer` is used from worker threads, so its
cache is guarded by a lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import random
import struct
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, features

__all__ = ["ImageInfo", "RenderSpec", "Renderer", "inspect_image", "pad_png", "seed_from"]

_BASE_PX = 192  # long edge of the drawn image before it is resized to the requested size
_MAX_CACHED_BYTES = 8 * 1024 * 1024  # do not let one 4K PNG evict everything else
_LABEL = "imagegate sandbox"
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def seed_from(*parts: object) -> int:
    """A stable 64-bit seed from any values (``hash()`` is salted per process, so not that)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class RenderSpec:
    """What to draw. ``partial`` = (index, total) for a blurry streaming preview, else None."""

    width: int
    height: int
    output_format: str  # png | jpeg | webp
    transparent: bool
    seed: int
    compression: int | None = None  # 0-100 for jpeg/webp; None = the API default (100)
    partial: tuple[int, int] | None = None


@dataclass(frozen=True)
class ImageInfo:
    """What the sandbox needs to know about an uploaded image."""

    format: str  # lower-case Pillow format name, e.g. "png"
    width: int
    height: int
    has_alpha: bool


def inspect_image(data: bytes) -> ImageInfo | None:
    """Format, size and alpha of an encoded image, reading only its header; None if not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
            fmt = (image.format or "").lower()
            return ImageInfo(format=fmt, width=image.width, height=image.height, has_alpha=has_alpha)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def inspect_data_url(url: object) -> ImageInfo | None:
    """``inspect_image`` of a ``data:...;base64,`` URL; None for anything else (a URL, bad base64)."""
    header, _, data = url.partition(",") if isinstance(url, str) else ("", "", "")
    if not (header.startswith("data:") and header.endswith(";base64")):
        return None
    try:
        return inspect_image(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return None


class Renderer:
    """Draws and encodes synthetic images, keeping a small LRU cache of encoded bytes."""

    def __init__(self, cache_entries: int = 64) -> None:
        self._cache: OrderedDict[RenderSpec, bytes] = OrderedDict()
        self._cache_entries = cache_entries
        self._lock = threading.Lock()
        self._fonts: dict[int, ImageFont.ImageFont | ImageFont.FreeTypeFont] = {}

    def render(self, spec: RenderSpec) -> bytes:
        """The encoded image for ``spec`` (from the cache when possible)."""
        with self._lock:
            cached = self._cache.get(spec)
            if cached is not None:
                self._cache.move_to_end(spec)
                return cached
        data = self._encode(self._draw(spec), spec)
        if len(data) <= _MAX_CACHED_BYTES and self._cache_entries > 0:
            with self._lock:
                self._cache[spec] = data
                while len(self._cache) > self._cache_entries:
                    self._cache.popitem(last=False)
        return data

    def _draw(self, spec: RenderSpec) -> Image.Image:
        rng = random.Random(spec.seed)
        scale = _BASE_PX / max(spec.width, spec.height)
        small_w, small_h = max(8, round(spec.width * scale)), max(8, round(spec.height * scale))
        small = _pattern(rng, small_w, small_h, spec.transparent)
        if spec.partial is not None:
            # Earlier partials are blockier: preview at 1/8, 1/4, 1/2 of the base resolution.
            index, total = spec.partial
            factor = 2 ** (total - index)
            blocky = small.resize((max(2, small_w // factor), max(2, small_h // factor)), Image.Resampling.BILINEAR)
            return blocky.resize((spec.width, spec.height), Image.Resampling.NEAREST)
        image = small.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
        self._label(image, spec)
        return image

    def _label(self, image: Image.Image, spec: RenderSpec) -> None:
        size = max(10, min(spec.width, spec.height) // 14)
        font = self._font(size)
        draw = ImageDraw.Draw(image)
        margin = max(4, size // 2)
        lines = (_LABEL, f"{spec.width}x{spec.height} synthetic")
        y = margin
        for line in lines:
            # A dark outline keeps the white text readable on any gradient colour.
            draw.text(
                (margin, y),
                line,
                font=font,
                fill=(255, 255, 255, 255),
                stroke_width=max(1, size // 12),
                stroke_fill=(0, 0, 0, 255),
            )
            y += int(size * 1.3)

    def _font(self, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
        font = self._fonts.get(size)
        if font is None:
            # load_default(size) needs FreeType; without it Pillow only has a fixed bitmap font.
            font = ImageFont.load_default(size) if features.check("freetype2") else ImageFont.load_default()
            self._fonts[size] = font
        return font

    @staticmethod
    def _encode(image: Image.Image, spec: RenderSpec) -> bytes:
        buffer = io.BytesIO()
        fmt = spec.output_format
        quality = 100 if spec.compression is None else spec.compression
        if fmt == "png":
            image.save(buffer, "PNG", compress_level=1)
        elif fmt == "jpeg":
            # JPEG has no alpha; quality above 95 only makes files bigger.
            image.convert("RGB").save(buffer, "JPEG", quality=max(1, min(quality, 95)))
        elif fmt == "webp":
            image.save(buffer, "WEBP", quality=quality, method=0)
        else:
            raise ValueError(f"unsupported output format {fmt!r}")
        return buffer.getvalue()


def _pattern(rng: random.Random, width: int, height: int, transparent: bool) -> Image.Image:
    """A two-colour gradient with a few shapes; with ``transparent`` only the shapes are opaque."""
    colour_a = _colour(rng)
    colour_b = _colour(rng)
    gradient = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize((width, height))
    if transparent:
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        disc = Image.new("L", (width, height), 0)
        ImageDraw.Draw(disc).ellipse((width * 0.15, height * 0.15, width * 0.85, height * 0.85), fill=255)
        fill = Image.composite(
            Image.new("RGBA", (width, height), (*colour_a, 255)),
            Image.new("RGBA", (width, height), (*colour_b, 255)),
            gradient,
        )
        image.paste(fill, (0, 0), disc)
    else:
        image = Image.composite(
            Image.new("RGB", (width, height), colour_a), Image.new("RGB", (width, height), colour_b), gradient
        )
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 6)):
        x0, y0 = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.8)
        extent = rng.uniform(0.1, 0.35) * min(width, height)
        box = (x0, y0, x0 + extent, y0 + extent)
        colour = (*_colour(rng), 255)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    return image


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def pad_png(png: bytes, total_bytes: int) -> bytes:
    """``png`` grown to ``total_bytes`` with a private ancillary chunk (``saNd``) before IEND.

    Decoders skip unknown ancillary chunks, so the result is still the same valid PNG. Returns
    ``png`` unchanged if it is already at least that large.
    """
    overhead = 12  # length + type + CRC
    missing = total_bytes - len(png) - overhead
    if missing <= 0:
        return png
    iend = png.rindex(b"IEND") - 4  # the chunk starts with its 4-byte length
    chunk_type = b"saNd"  # lower-case 1st/2nd/4th letters: ancillary, private, safe to copy
    # Seeded noise rather than zeros, so any HTTP compression in between cannot shrink it.
    data = random.Random(0).randbytes(missing)
    chunk = struct.pack(">I", missing) + chunk_type + data + struct.pack(">I", zlib.crc32(chunk_type + data))
    return png[:iend] + chunk + png[iend:]


def pad_jpeg(jpeg: bytes, total_bytes: int) -> bytes:
    """``jpeg`` grown to about ``total_bytes`` with comment (COM) segments after its SOI marker.

    Decoders skip comment segments, so the result is still the same valid JPEG. Returns ``jpeg``
    unchanged if it is already at least that large.
    """
    rng = random.Random(0)  # noise, as in ``pad_png``: HTTP compression cannot shrink it
    missing = total_bytes - len(jpeg)
    segments: list[bytes] = []
    while missing > 4:
        size = min(missing - 4, 65533)  # a segment's length field counts itself: at most 65535
        segments.append(b"\xff\xfe" + struct.pack(">H", size + 2) + rng.randbytes(size))
        missing -= size + 4
    return jpeg[:2] + b"".join(segments) + jpeg[2:]
