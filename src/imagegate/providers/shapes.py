"""Image shapes in both vocabularies: ``WIDTHxHEIGHT`` sizes and aspect ratio + resolution tier.

OpenAI-style APIs take a pixel size; Google-style APIs take an aspect ratio (``16:9``) and a tier
(``1K``). Translating between them needs one agreed meaning of "16:9 at 1K": this module uses
Google's published table for Gemini 3 image models (shared/reference/pricing.md §2.2), which is
also the largest family of tier-based models, and computes sizes for ratios outside it.

"Nearest" is measured on a log scale (a 2x difference counts the same up or down): first the
aspect ratio, then the pixel count. Pure functions, no provider names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from imagegate.domain.capabilities import CustomSizeRule
from imagegate.domain.size import size_or_none
from imagegate.providers.validation import check_custom_size

# Pixels per tier: the tier name is the long edge of a square image.
TIER_PIXELS: dict[str, int] = {"512": 512 * 512, "1K": 1024 * 1024, "2K": 2048 * 2048, "4K": 4096 * 4096}
DEFAULT_TIER = "1K"

# Google's 1K shapes for Gemini 3 Pro Image / 3.1 Flash Image; 2K and 4K are exact multiples and
# the 512 tier (3.1 Flash only) is measured for the extended ratios and 21:9, half of 1K otherwise.
_ONE_K: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
    "1:4": (512, 2064),
    "4:1": (2064, 512),
    "1:8": (352, 2928),
    "8:1": (2928, 352),
}
_MEASURED_512: dict[str, tuple[int, int]] = {
    "21:9": (784, 336),
    "1:4": (256, 1024),
    "4:1": (1024, 256),
    "1:8": (176, 1456),
    "8:1": (1456, 176),
}
_TIER_FACTOR = {"1K": 1, "2K": 2, "4K": 4}


def parse_aspect(aspect: str) -> tuple[int, int]:
    """``"16:9"`` -> ``(16, 9)``; ``ValueError`` for anything else."""
    left, sep, right = aspect.partition(":")
    if sep == "" or not left.isdigit() or not right.isdigit() or int(left) == 0 or int(right) == 0:
        raise ValueError(f"not an aspect ratio: {aspect!r}")
    return int(left), int(right)


def aspect_value(aspect: str) -> float:
    """Width over height of an ``A:B`` aspect ratio."""
    width, height = parse_aspect(aspect)
    return width / height


def canonical_size(aspect: str, tier: str | None) -> tuple[int, int]:
    """The pixel size of ``aspect`` at ``tier`` (``None`` = 1K), as Google's table defines it."""
    tier = DEFAULT_TIER if tier is None else tier
    if tier not in TIER_PIXELS:
        raise ValueError(f"unknown resolution tier {tier!r}")
    if tier == "512" and aspect in _MEASURED_512:
        return _MEASURED_512[aspect]
    base = _ONE_K.get(aspect)
    if base is not None:
        if tier == "512":
            return base[0] // 2, base[1] // 2
        factor = _TIER_FACTOR[tier]
        return base[0] * factor, base[1] * factor
    ratio = aspect_value(aspect)
    area = TIER_PIXELS[tier]
    width = math.sqrt(area * ratio)
    return _round16(width), _round16(width / ratio)


def _round16(value: float) -> int:
    return max(16, round(value / 16) * 16)


def _log_distance(a: float, b: float) -> float:
    return abs(math.log(a) - math.log(b))


def nearest_aspect(width: int, height: int, choices: Iterable[str]) -> str:
    """The aspect ratio among ``choices`` closest to ``width x height`` (first wins a tie)."""
    options = list(choices)
    if not options:
        raise ValueError("no aspect ratio to choose from")
    return min(options, key=lambda aspect: _log_distance(width / height, aspect_value(aspect)))


def nearest_tier(width: int, height: int, choices: Iterable[str]) -> str:
    """The resolution tier among ``choices`` whose pixel count is closest to ``width x height``."""
    options = [tier for tier in choices if tier in TIER_PIXELS]
    if not options:
        raise ValueError("no resolution tier to choose from")
    return min(options, key=lambda tier: _log_distance(width * height, TIER_PIXELS[tier]))


def nearest_fixed_size(width: int, height: int, sizes: Iterable[str]) -> str:
    """Among fixed ``WxH`` sizes, the one closest in aspect ratio, then in pixel count."""
    parsed = [(size, dims) for size in sizes if (dims := size_or_none(size)) is not None]
    if not parsed:
        raise ValueError("no fixed size to choose from")

    def distance(item: tuple[str, tuple[int, int]]) -> tuple[float, float]:
        w, h = item[1]
        return round(_log_distance(width / height, w / h), 3), _log_distance(width * height, w * h)

    return min(parsed, key=distance)[0]


def fit_custom_size(width: int, height: int, rule: CustomSizeRule) -> tuple[tuple[int, int] | None, str | None]:
    """``width x height`` rounded to the rule's multiple: ``((w, h), None)``, or ``(None, why)``.

    Rounding keeps the shape within a few pixels; a size the rule forbids outright (too large, too
    elongated) is reported, never shrunk to fit.
    """
    snapped = tuple(max(rule.multiple_of, round(v / rule.multiple_of) * rule.multiple_of) for v in (width, height))
    problem = check_custom_size(snapped[0], snapped[1], rule)
    if problem is not None:
        return None, problem
    return (snapped[0], snapped[1]), None


def size_text(width: int, height: int) -> str:
    """``(1376, 768)`` -> ``"1376x768"``."""
    return f"{width}x{height}"
