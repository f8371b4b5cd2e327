"""Synthetic image rendering (pure, no network)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagegate.sandbox.render import Renderer, RenderSpec, inspect_image, pad_jpeg, pad_png, seed_from


def load(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("width", "height", "fmt", "transparent", "pil_format", "mode"),
    [
        (1024, 1024, "png", False, "PNG", "RGB"),
        (1536, 864, "jpeg", False, "JPEG", "RGB"),
        (640, 1024, "webp", False, "WEBP", "RGB"),
        (1024, 1024, "png", True, "PNG", "RGBA"),
        (768, 1024, "webp", True, "WEBP", "RGBA"),
    ],
)
def test_render_exact_size_format_and_alpha(
    width: int, height: int, fmt: str, transparent: bool, pil_format: str, mode: str
) -> None:
    image = load(Renderer().render(RenderSpec(width, height, fmt, transparent, seed=1)))
    assert (image.size, image.format, image.mode) == ((width, height), pil_format, mode)
    if transparent:
        # A corner lies outside the opaque disc: fully transparent, unless a shape happens to cover it.
        alpha = image.getchannel("A")
        assert alpha.getextrema()[0] == 0
        assert alpha.getextrema()[1] == 255


def test_different_seeds_give_different_images_and_same_seed_is_cached() -> None:
    renderer = Renderer()
    first = renderer.render(RenderSpec(256, 256, "png", False, seed=seed_from("a cat", 0)))
    again = renderer.render(RenderSpec(256, 256, "png", False, seed=seed_from("a cat", 0)))
    other = renderer.render(RenderSpec(256, 256, "png", False, seed=seed_from("a cat", 1)))
    assert first is again  # served from the cache
    assert first != other


def test_partial_previews_are_blockier_than_final() -> None:
    renderer = Renderer(cache_entries=0)
    spec = RenderSpec(512, 512, "png", False, seed=7)
    final = load(renderer.render(spec))
    partial = load(renderer.render(RenderSpec(512, 512, "png", False, seed=7, partial=(0, 3))))
    assert partial.size == final.size
    # The blocky preview has far fewer distinct colours than the labelled, interpolated final image.
    assert len(partial.getcolors(1 << 20) or []) < len(final.getcolors(1 << 20) or [])


def test_seed_from_is_stable() -> None:
    assert seed_from("x", 1) == seed_from("x", 1)
    assert seed_from("x", 1) != seed_from("x", 2)
    assert 0 <= seed_from("benchmark") < 2**64


def test_pad_png_keeps_a_valid_png_of_the_requested_size() -> None:
    png = Renderer().render(RenderSpec(64, 64, "png", False, seed=3))
    padded = pad_png(png, 50_000)
    assert len(padded) == 50_000
    assert load(padded).tobytes() == load(png).tobytes()
    assert pad_png(png, 10) == png


def test_pad_jpeg_keeps_a_valid_jpeg_of_about_the_requested_size() -> None:
    jpeg = Renderer().render(RenderSpec(64, 64, "jpeg", False, seed=3))
    padded = pad_jpeg(jpeg, 200_000)  # several comment segments (each at most 64 KiB)
    assert 200_000 - 4 <= len(padded) <= 200_000
    assert load(padded).tobytes() == load(jpeg).tobytes()
    assert pad_jpeg(jpeg, 10) == jpeg


def test_inspect_image() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (30, 20)).save(buffer, "PNG")
    info = inspect_image(buffer.getvalue())
    assert info is not None
    assert (info.format, info.width, info.height, info.has_alpha) == ("png", 30, 20, True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG")
    jpeg = inspect_image(buffer.getvalue())
    assert jpeg is not None and (jpeg.format, jpeg.has_alpha) == ("jpeg", False)
    assert inspect_image(b"not an image") is None
