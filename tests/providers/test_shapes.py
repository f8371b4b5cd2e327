"""Shapes in both vocabularies: pixel sizes <-> aspect ratio + resolution tier."""

from __future__ import annotations

import pytest

from imagegate.domain.capabilities import CustomSizeRule
from imagegate.providers.shapes import (
    canonical_size,
    fit_custom_size,
    nearest_aspect,
    nearest_fixed_size,
    nearest_tier,
)

GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GPT_IMAGE_2 = CustomSizeRule(
    multiple_of=16, max_edge=3840, max_aspect_ratio=3, min_pixels=655_360, max_pixels=8_294_400
)


@pytest.mark.parametrize(
    ("aspect", "tier", "size"),
    # pricing.md §2.2 (Gemini 3 table): 1K, x2, x4, and the measured 512 cells.
    [
        ("1:1", "1K", (1024, 1024)),
        ("16:9", "1K", (1376, 768)),
        ("21:9", "2K", (3168, 1344)),
        ("9:16", "4K", (3072, 5504)),
        ("1:8", "1K", (352, 2928)),
        ("21:9", "512", (784, 336)),
        ("2:3", "512", (424, 632)),
        ("3:2", None, (1264, 848)),
    ],
)
def test_canonical_sizes_follow_googles_table(aspect, tier, size):
    assert canonical_size(aspect, tier) == size


def test_ratios_outside_the_table_are_computed_on_a_16px_grid():
    width, height = canonical_size("9:21", "1K")
    assert width % 16 == 0 and height % 16 == 0 and abs(width * height - 1024 * 1024) < 40_000


@pytest.mark.parametrize(
    ("width", "height", "aspect"),
    [
        (1024, 1024, "1:1"),
        (1536, 1024, "3:2"),
        (1024, 1536, "2:3"),
        (1920, 1080, "16:9"),
        (2560, 1080, "21:9"),
        (1000, 800, "5:4"),
    ],
)
def test_nearest_aspect(width, height, aspect):
    assert nearest_aspect(width, height, GEMINI_RATIOS) == aspect


@pytest.mark.parametrize(
    ("width", "height", "tiers", "tier"),
    [
        (1024, 1024, ("1K", "2K", "4K"), "1K"),
        (1536, 1024, ("1K", "2K", "4K"), "1K"),
        (2048, 2048, ("1K", "2K", "4K"), "2K"),
        (3840, 2160, ("1K", "2K", "4K"), "2K"),
        (4096, 2304, ("1K", "2K", "4K"), "4K"),
        (512, 512, ("512", "1K", "2K"), "512"),
        (512, 512, ("1K", "2K"), "1K"),
    ],
)
def test_nearest_tier_by_pixel_count(width, height, tiers, tier):
    assert nearest_tier(width, height, tiers) == tier


def test_nearest_fixed_size_prefers_the_shape_then_the_area():
    sizes = ("auto", "1024x1024", "1536x1024", "1024x1536")
    assert nearest_fixed_size(1376, 768, sizes) == "1536x1024"
    assert nearest_fixed_size(768, 1376, sizes) == "1024x1536"
    assert nearest_fixed_size(2048, 2048, sizes) == "1024x1024"


def test_custom_sizes_are_snapped_but_never_shrunk_to_fit():
    assert fit_custom_size(1376, 768, GPT_IMAGE_2) == ((1376, 768), None)
    assert fit_custom_size(1370, 770, GPT_IMAGE_2) == ((1376, 768), None)
    fitted, problem = fit_custom_size(5504, 3072, GPT_IMAGE_2)
    assert fitted is None and "3840" in problem
    fitted, problem = fit_custom_size(352, 2928, GPT_IMAGE_2)
    assert fitted is None and problem is not None
