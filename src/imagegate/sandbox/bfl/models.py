"""The FLUX.2 models the BFL sandbox serves: price rule and reference-image limit of each.

Prices from BFL's published rule (shared/reference/pricing.md §3.1), in credits (cents):
``cost = first MP + (output MP - 1) x MP price + input MP x MP price``, fractional MP (1 MP = 1024²).
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


def megapixels(width: int, height: int) -> Decimal:
    """MP to two decimals, as the submit answer reports them."""
    return (Decimal(width * height) / MP_PIXELS).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def credits(model: FluxModel, output_mp: Decimal, input_mp: Decimal) -> Decimal:
    """The task's cost in credits, from the megapixels as reported (two decimals), not rounded further."""
    return model.first_mp + max(Decimal(0), output_mp - 1) * model.mp + input_mp * model.mp
