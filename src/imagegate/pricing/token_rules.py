"""Token-count rules for token-priced image models, as pure functions of size and quality.

Which rule a model uses, and its constants (quality factors, lookup tables), are catalog data;
these functions only hold the arithmetic. Sources are cited in ``catalog/data`` and in
``../shared/reference/pricing.md`` §1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def area_formula_output_tokens(width: int, height: int, quality_factor: int) -> int:
    """Output tokens of one image by the size/quality formula that reproduces OpenAI's calculator.

    f = quality factor; L = long edge; S = short edge;
    a = floor((2 f S + L) / (2 L)); tokens = ceil(f a (2_000_000 + w h) / 4_000_000).
    Integer arithmetic throughout, so the result is exact.
    """
    long_edge, short_edge = max(width, height), min(width, height)
    a = (2 * quality_factor * short_edge + long_edge) // (2 * long_edge)
    numerator = quality_factor * a * (2_000_000 + width * height)
    return -(-numerator // 4_000_000)


def table_output_tokens(table: Mapping[str, Mapping[str, int]], size: str, quality: str) -> int:
    """Output tokens of one image from a published size x quality table; KeyError if absent."""
    return table[size][quality]


def tile_input_image_tokens(
    width: int,
    height: int,
    *,
    base_tokens: int = 65,
    tokens_per_tile: int = 129,
    tile_px: int = 512,
    fit_px: int = 2048,
    short_side_px: int = 512,
    high_fidelity_extra: tuple[int, int] | None = None,
) -> int:
    """Input tokens of one reference image by the tile rule (fit in ``fit_px``², shortest side to
    ``short_side_px``, count ``tile_px`` tiles). ``high_fidelity_extra`` is (square, non-square)
    tokens added per image at high input fidelity.
    """
    scale = min(1.0, fit_px / max(width, height))
    w, h = width * scale, height * scale
    scale = short_side_px / min(w, h)
    w, h = w * scale, h * scale
    tiles = math.ceil(round(w, 6) / tile_px) * math.ceil(round(h, 6) / tile_px)
    tokens = base_tokens + tokens_per_tile * tiles
    if high_fidelity_extra is not None:
        square_extra, other_extra = high_fidelity_extra
        tokens += square_extra if width == height else other_extra
    return tokens
