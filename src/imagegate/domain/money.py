"""Money as integer micro-dollars; Decimal only at the edges (parsing rates, rendering figures).

One rounding rule for the whole gateway: a computed charge is rounded half-up to the micro-dollar
once, at the end of a quote or settlement, never per intermediate term.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_USD = 1_000_000


def micros_from_decimal(amount_usd: Decimal) -> int:
    """Round a USD amount half-up to whole micro-dollars."""
    return int((amount_usd * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd_string(micros: int) -> str:
    """Render micro-dollars as a plain decimal string with six places (``"0.053280"``)."""
    return f"{Decimal(micros) / MICROS_PER_USD:.6f}"


def rate_per_token_micros(usd_per_million: str | float | Decimal) -> Decimal:
    """Micro-dollars per single token for a USD-per-1M-tokens rate (exact: 1 USD/1M = 1 micro/token)."""
    return Decimal(str(usd_per_million))
