"""The FLUX.2 models the BFL sandbox serves: price rule and reference-image limit of each.

Prices from BFL's published rule (shared/reference/pricing.md §3.1), in credits (cents):
``cost = first MP + (output MP - 1) x MP price + input MP x MP price``, fractional MP (1 MP = 1024²).
The submit answer's ``input_mp``/``output_mp`` are another unit: millions of pixels to two decimals
(BFL reports 1024x1024 as 1.05 while billing it 3 credits, one 1024² megapixel of flux-2-pro).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MP_PIXELS = 1024 * 1024
MAX_PIXELS = 4 * MP_PIXELS
OUTPUT_FORMATS = ("jpeg", "png", "webp")


@dataclass(frozen=True)
class FluxModel:
    """One endpoint: credits for the first output MP, credits per further MP (out or in), max refs."""

    first_mp: Decimal
    mp: Decimal
    max_refs: int


MODELS: dict[str, FluxModel] = {
    "flux-2-pro": FluxModel(Decimal("3"), Decimal("1.5"), 8),
    "flux-2-pro-preview": FluxModel(Decimal("3"), Decimal("1.5"), 8),
    "flux-2-max": FluxModel(Decimal("7"), Decimal("3"), 8),
    "flux-2-flex": FluxModel(Decimal("5"), Decimal("5"), 8),
    "flux-2-klein-4b": FluxModel(Decimal("1.4"), Decimal("0.1"), 4),
    "flux-2-klein-9b": FluxModel(Decimal("1.5"), Decimal("0.2"), 4),
    "flux-2-klein-9b-preview": FluxModel(Decimal("1.5"), Decimal("0.2"), 4),
}


def billed_megapixels(width: int, height: int) -> Decimal:
    """Fractional 1024²-pixel megapixels, as the price rule counts them."""
    return Decimal(width * height) / MP_PIXELS


def reported_megapixels(width: int, height: int) -> Decimal:
    """Millions of pixels to two decimals, as the submit answer reports them."""
    return (Decimal(width * height) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def credits(model: FluxModel, output_mp: Decimal, input_mp: Decimal) -> Decimal:
    """The task's cost in credits from billed (1024²) megapixels, to a hundred-thousandth of a credit."""
    cost = model.first_mp + max(Decimal(0), output_mp - 1) * model.mp + input_mp * model.mp
    return cost.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)
