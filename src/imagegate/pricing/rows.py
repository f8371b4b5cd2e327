"""Typed price rows: what a model costs, as structured data the engine applies.

A row names a *unit* and the rule constants for it; the engine (``pricing.engine``) knows the
arithmetic of each unit and rule and nothing about providers. Rows come from the catalog JSON
(``catalog/data``) and operator overrides, validated here so a bad number fails at load time with
the row and field named, never at billing time.

Units:
- ``token``: per-1M-token rates by direction and modality (``token_rates``), an output-token rule
  (``output_tokens``: area formula, size x quality table, per resolution tier, or fixed), an
  input-image rule (``input_images``: tile rule, fixed tokens per image, or unknown with a
  conservative estimate).
- ``image``: a list of per-image prices, each optionally restricted to a size (``WxH`` or a tier
  such as ``1K``) and/or a quality.
- ``text``: a mainline model's per-1M-token text rates (``text_rates``); it makes no image itself
  (the Responses API's image tool is priced by the tool model's row, ``pricing.responses``).
- ``megapixel``: per-MP prices with a first-MP premium, an input-MP price, a per-request fee and
  the rounding rule (``fractional`` MP or ``ceil`` to whole MP per image) and a per-image fee.

USD amounts are ``Decimal`` (JSON strings in the shipped data; numbers are accepted and read via
their decimal text, never as binary floats).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Hashable, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, model_validator

from imagegate.domain.size import parse_size

T = TypeVar("T")
# Keys ``PriceRow.memoized`` keeps per row before it starts over.
MEMO_ENTRIES = 256

TokenLine = Literal[
    "text_input", "text_input_cached", "image_input", "image_input_cached", "text_output", "image_output"
]
TierName = Literal["batch", "flex", "priority"]
STANDARD_TIER = "standard"

Usd = Annotated[Decimal, Field(ge=0)]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TokenRates(_Row):
    """USD per 1M tokens, which is exactly micro-dollars per token.

    An absent cached rate bills at the uncached rate; an absent ``image_input`` at ``text_input``;
    an absent ``text_output`` (thinking included) at ``image_output`` (models whose text output is
    not priced separately).
    """

    text_input: Usd
    text_input_cached: Usd | None = None
    image_input: Usd | None = None
    image_input_cached: Usd | None = None
    text_output: Usd | None = None
    image_output: Usd

    def resolved(self) -> dict[TokenLine, Decimal]:
        """Every line's rate with the fallbacks above applied."""
        image_input = self.image_input if self.image_input is not None else self.text_input
        return {
            "text_input": self.text_input,
            "text_input_cached": _first(self.text_input_cached, self.text_input),
            "image_input": image_input,
            "image_input_cached": _first(self.image_input_cached, image_input),
            "text_output": _first(self.text_output, self.image_output),
            "image_output": self.image_output,
        }


class TextRates(_Row):
    """A mainline (text) model's USD per 1M tokens: input, cached input and output (reasoning included).

    An absent ``cached_input`` bills at ``input``. Used by ``text`` rows: the model that calls a
    hosted image tool (the Responses API), whose image work is priced by the tool model's own row.
    """

    input: Usd
    cached_input: Usd | None = None
    output: Usd


class TierSpec(_Row):
    """A service tier's price: ``multiplier`` on every line, except lines given explicit ``rates``.

    ``rates`` (USD per 1M tokens) only exist for token rows; per-image and per-MP rows scale by
    ``multiplier`` alone.
    """

    multiplier: Usd = Decimal(1)
    rates: dict[TokenLine, Usd] = Field(default_factory=dict)
    unverified: bool = False
    note: str | None = None


class AreaFormulaOutput(_Row):
    """Output tokens from size and a per-quality factor (``token_rules.area_formula_output_tokens``).

    ``auto_sizes`` are the sizes evaluated when the request leaves size to the model: they must
    include the valid size with the most tokens, so the quote stays an upper bound.
    """

    rule: Literal["area_formula"]
    quality_factors: dict[str, PositiveInt] = Field(min_length=1)
    auto_sizes: tuple[str, ...] = Field(min_length=1)
    unverified: bool = False


class TableOutput(_Row):
    """Output tokens per image from a published size x quality table."""

    rule: Literal["table"]
    table: dict[str, dict[str, PositiveInt]] = Field(min_length=1)
    unverified: bool = False


class PerTierOutput(_Row):
    """Output tokens per image by resolution tier (``1K``, ``2K`` ...), independent of aspect ratio."""

    rule: Literal["per_tier"]
    tokens: dict[str, PositiveInt] = Field(min_length=1)
    # Reference pixel count of each tier: a WIDTHxHEIGHT size prices at the nearest tier.
    tier_pixels: dict[str, PositiveInt] | None = None
    unverified: bool = False

    def tier_of(self, size: str) -> str | None:
        """The tier a ``WIDTHxHEIGHT`` size falls in (nearest pixel count, on a log scale)."""
        tier_pixels = self.tier_pixels
        if tier_pixels is None:
            return None
        try:
            width, height = parse_size(size)
        except ValueError:
            return None
        pixels = width * height
        if pixels <= 0:
            return None
        return min(tier_pixels, key=lambda tier: abs(math.log(pixels / tier_pixels[tier])))


class FixedOutput(_Row):
    """The same output tokens for every image whatever its size or quality."""

    rule: Literal["fixed"]
    tokens: PositiveInt
    unverified: bool = False


OutputTokenRule = Annotated[AreaFormulaOutput | TableOutput | PerTierOutput | FixedOutput, Field(discriminator="rule")]


class TileInput(_Row):
    """Input tokens per reference image by the tile rule (``token_rules.tile_input_image_tokens``).

    ``high_fidelity_extra`` is (square, non-square) tokens added per image when the request asks
    for ``input_fidelity=high``.
    """

    rule: Literal["tile"]
    base_tokens: PositiveInt = 65
    tokens_per_tile: PositiveInt = 129
    tile_px: PositiveInt = 512
    fit_px: PositiveInt = 2048
    short_side_px: PositiveInt = 512
    high_fidelity_extra: tuple[int, int] | None = None
    unverified: bool = False


class FixedInput(_Row):
    """A fixed number of input tokens per reference image, whatever its size."""

    rule: Literal["fixed"]
    tokens: PositiveInt
    unverified: bool = False


class UnknownInput(_Row):
    """No published rule: quote ``estimate_tokens`` per reference image and mark the charge estimated."""

    rule: Literal["unknown"]
    estimate_tokens: PositiveInt
    note: str | None = None


InputImageRule = Annotated[TileInput | FixedInput | UnknownInput, Field(discriminator="rule")]


class ImagePrice(_Row):
    """One per-image price point; ``size`` (``WxH`` or a tier) and ``quality`` restrict it when set."""

    usd: Usd
    size: str | None = None
    quality: str | None = None


MpRounding = Literal["fractional", "ceil"]


class MegapixelRates(_Row):
    """Per-megapixel prices, all per image.

    Output cost of one image: ``per_image_fee`` (a per-run fee) plus
    ``first_mp + max(0, mp - 1) * output_mp`` when ``first_mp`` is set (first-MP premium), else
    ``mp * output_mp``. Input cost: each reference image's MP, clamped
    to [``input_min_mp``, ``input_max_mp``] and rounded, times ``input_mp``. ``ceil`` rounding
    is per image, to whole MP; ``fractional`` keeps exact ``w*h / mp_pixels``.
    """

    output_mp: Usd
    first_mp: Usd | None = None
    input_mp: Usd = Decimal(0)
    per_image_fee: Usd = Decimal(0)
    mp_pixels: PositiveInt = 1_048_576
    output_rounding: MpRounding
    input_rounding: MpRounding
    input_min_mp: Usd = Decimal(0)
    input_max_mp: Usd | None = None
    max_output_mp: Annotated[Decimal, Field(gt=0)]


class PriceRow(_Row):
    """A model's price as data: unit, rates, rules, tiers, defaults, and where it comes from.

    ``default_n`` / ``default_size`` / ``default_quality`` are what the provider uses when the
    request omits the field (Imagen's ``sampleCount`` defaults to 4). ``input_billed_per_image``
    says the provider bills the request's input once per generated image. ``edit`` is a partial
    row deep-merged over this one for ``edit`` requests (resellers price edits differently).
    """

    unit: Literal["token", "image", "megapixel", "text"]
    currency: Literal["USD"] = "USD"
    token_rates: TokenRates | None = None
    text_rates: TextRates | None = None
    output_tokens: OutputTokenRule | None = None
    input_images: InputImageRule | None = None
    partial_image_extra_output_tokens: Annotated[int, Field(ge=0)] = 0
    input_billed_per_image: bool = False
    text_output_reserve_tokens: Annotated[int, Field(ge=0)] = 0
    image_prices: tuple[ImagePrice, ...] = ()
    megapixel: MegapixelRates | None = None
    tiers: dict[TierName, TierSpec] = Field(default_factory=dict)
    default_n: PositiveInt = 1
    default_size: str | None = None
    default_quality: str | None = None
    edit: dict[str, Any] | None = None
    source: tuple[str, ...] = Field(min_length=1)
    as_of: date
    unverified: bool = False
    notes: str | None = None

    _edit_row: PriceRow | None = PrivateAttr(default=None)
    # Values worked out from this row alone (``memoized``): every quote and settlement reads them,
    # and the row is frozen (a ``model_copy(update=...)`` would carry them over: none is made of a row).
    _memo: dict[Hashable, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unit_fields_agree(self) -> PriceRow:
        present = {
            "token_rates": self.token_rates is not None,
            "text_rates": self.text_rates is not None,
            "output_tokens": self.output_tokens is not None,
            "input_images": self.input_images is not None,
            "image_prices": bool(self.image_prices),
            "megapixel": self.megapixel is not None,
        }
        needed = {
            "token": {"token_rates", "output_tokens"},
            "image": {"image_prices"},
            "megapixel": {"megapixel"},
            "text": {"text_rates"},
        }[self.unit]
        allowed = needed | ({"input_images"} if self.unit == "token" else set())
        missing = sorted(name for name in needed if not present[name])
        if missing:
            raise ValueError(f"unit {self.unit!r} needs {', '.join(missing)}")
        stray = sorted(name for name, here in present.items() if here and name not in allowed)
        if stray:
            raise ValueError(f"unit {self.unit!r} does not use {', '.join(stray)}")
        if self.unit != "token":
            for name, spec in self.tiers.items():
                if spec.rates:
                    raise ValueError(f"tier {name!r}: explicit rates only apply to token rows")
        if self.edit is not None:
            if "edit" in self.edit:
                raise ValueError("edit overrides cannot nest another edit")
            merged = deep_merge(self.model_dump(exclude={"edit"}), self.edit)
            self._edit_row = PriceRow.model_validate(merged)
        return self

    def for_operation(self, operation: str) -> PriceRow:
        """The row that prices ``operation``: the ``edit`` overrides applied for edits."""
        if operation == "edit" and self._edit_row is not None:
            return self._edit_row
        return self

    def memoized(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, worked out once per ``key`` for this row (a function of the row and the
        key alone); an exception is raised each time, never kept. At most ``MEMO_ENTRIES`` keys,
        all dropped when full (keys are request shapes: sizes, qualities, tiers)."""
        try:
            return cast(T, self._memo[key])
        except KeyError:
            pass
        value = compute()
        if len(self._memo) >= MEMO_ENTRIES:
            self._memo.clear()
        self._memo[key] = value
        return value

    def tier_token_rates(self, tier: str) -> dict[TokenLine, Decimal]:
        """Micro-dollars per token for every line at ``tier`` (explicit rates, else base x
        multiplier); ``UnknownTier`` if the row lacks it. The same dict each time: read it only."""

        def rates() -> dict[TokenLine, Decimal]:
            spec = self.tier(tier)
            assert self.token_rates is not None, "token rates belong to token rows"
            base = self.token_rates.resolved()
            return {line: spec.rates.get(line, rate * spec.multiplier) for line, rate in base.items()}

        return self.memoized(("tier_token_rates", tier), rates)

    def tier(self, name: str) -> TierSpec:
        """The tier's spec (``standard`` is the identity); ``UnknownTier`` if the row lacks it."""
        if name == STANDARD_TIER:
            return _STANDARD
        spec = self.tiers.get(cast(TierName, name))
        if spec is None:
            offered = ", ".join([STANDARD_TIER, *sorted(self.tiers)])
            raise UnknownTier(f"tier {name!r} is not priced for this model (priced: {offered})")
        return spec


class UnknownTier(ValueError):
    """The request asked for a service tier the price row does not price."""


_STANDARD = TierSpec()


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``: dicts merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _first(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value
