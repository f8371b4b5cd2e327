"""``Charge``, what a quote or settlement returns, and the one place a charge is rounded.

Amounts accumulate as ``Decimal`` micro-dollars per line; ``Lines.to_charge`` rounds the total
half-up to the micro-dollar once (``domain.money``'s rule) and spreads that rounding over the
lines by largest remainder, so ``sum(breakdown.values()) == micros`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from imagegate.domain.money import MICROS_PER_USD, micros_from_decimal


class PricingError(ValueError):
    """The request cannot be priced with this row (an unpriced size, quality or input)."""


@dataclass(frozen=True, slots=True)
class Charge:
    """A priced request: integer micro-dollars, per-line breakdown, and whether it rests on estimates.

    ``estimated`` is True when a guess stood in for a published rule or a reported figure (see
    docs/pricing.md, "When a charge is estimated"). ``unit`` is the price row's unit, or
    ``provider_cost`` when the provider reported the charge itself.
    """

    micros: int
    estimated: bool
    breakdown: dict[str, int] = field(default_factory=dict)
    unit: str = "token"


class Lines:
    """Accumulates unrounded micro-dollar amounts per breakdown line."""

    __slots__ = ("amounts", "estimated")

    def __init__(self) -> None:
        self.amounts: dict[str, Decimal] = {}
        self.estimated = False

    def add(self, line: str, micros: Decimal) -> None:
        """Add ``micros`` (unrounded) to ``line``; zero amounts leave no line."""
        if micros:
            self.amounts[line] = self.amounts.get(line, Decimal(0)) + micros

    def scale(self, factor: Decimal) -> None:
        """Multiply every line (a tier multiplier on a per-image or per-MP row)."""
        if factor != 1:
            self.amounts = {line: amount * factor for line, amount in self.amounts.items()}

    def to_charge(self, unit: str) -> Charge:
        """Round once and return the ``Charge``."""
        total = micros_from_decimal(sum(self.amounts.values(), Decimal(0)) / MICROS_PER_USD)
        floors = {line: int(amount) for line, amount in self.amounts.items()}
        leftover = total - sum(floors.values())
        by_fraction = sorted(self.amounts, key=lambda line: (floors[line] - self.amounts[line], line))
        for line in by_fraction[:leftover]:
            floors[line] += 1
        return Charge(micros=total, estimated=self.estimated, breakdown=floors, unit=unit)


def usd_to_micros(usd: Decimal) -> Decimal:
    """An exact USD amount in (unrounded) micro-dollars."""
    return usd * MICROS_PER_USD
