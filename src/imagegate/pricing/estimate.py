"""Workflow estimates: what a planned use of a model costs per request, per image, per accepted
image and per month, computed by the engine's ``quote`` so there is one price logic, not two.

A workflow describes requests as a client would send them (size, quality, ``n``, reference
images, partial images, prompt length) plus the economics around them (monthly volume, retry
rate, acceptance rate, batch). ``estimate`` turns it into an ``ImageRequest`` and quotes it; the
normalisation follows ``shared/reference/pricing.md`` §5:

    per_request          = quote(request)                        (one attempt, the engine's figure)
    per_generated_image  = per_request / n
    per_accepted_image   = per_request x (1 + retry_rate) / (n x acceptance_rate)
    per_month            = monthly_images / n x per_request x (1 + retry_rate)

``retry_rate`` is billed extra attempts per request (0.1: one request in ten is paid twice), so
failed, blocked and retried attempts weigh on the accepted images, as the reports count them.
Amounts stay integer or ``Decimal`` micro-dollars; each figure is rounded half-up once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from imagegate.domain.request import ImageRequest
from imagegate.domain.size import is_size, parse_size
from imagegate.pricing.charge import Charge, PricingError
from imagegate.pricing.engine import per_image_price, quote
from imagegate.pricing.inputs import AUTO, header_only_png, requested_n
from imagegate.pricing.rows import STANDARD_TIER, PriceRow, UnknownTier

BATCH_TIER = "batch"
# Reference images are described by size only; beyond this Pillow would refuse a real upload as
# a decompression bomb, so an estimate for it would describe a request the gateway cannot take.
MAX_REFERENCE_PIXELS = 89_000_000

# What ``estimate`` raises when a row cannot price a workflow; callers catch this tuple.
EstimateError = (PricingError, UnknownTier)

__all__ = ["Estimate", "EstimateError", "Workflow", "estimate", "prompt_of_tokens", "size_fields"]


@dataclass(frozen=True, slots=True)
class Workflow:
    """A planned use of image generation, as the estimator prices it.

    ``size`` is ``WxH`` or a resolution tier (``1K``, ``4K``); ``None`` or ``auto`` leaves it to
    the model (priced at the most expensive choice, as a quote is). ``n`` ``None`` means the
    provider's default count (Imagen: 4). ``reference_images`` are the sizes of edit inputs.
    ``thinking_tokens`` (text and thinking output per image) replaces a token row's reserve when
    given. ``monthly_images`` counts generated images (requests x n); ``acceptance_rate`` is the
    share of delivered images the customer keeps; ``retry_rate`` is defined in the module doc.
    """

    size: str | None = None
    quality: str | None = None
    n: int | None = None
    reference_images: tuple[str, ...] = ()
    input_fidelity: str | None = None
    partial_images: int = 0
    prompt_tokens: int = 0
    thinking_tokens: int | None = None
    monthly_images: int | None = None
    retry_rate: Decimal = Decimal(0)
    acceptance_rate: Decimal = Decimal(1)
    batch: bool = False

    def __post_init__(self) -> None:
        if self.n is not None and self.n < 1:
            raise ValueError("n must be at least 1")
        if self.partial_images < 0 or self.prompt_tokens < 0:
            raise ValueError("partial_images and prompt_tokens cannot be negative")
        if self.thinking_tokens is not None and self.thinking_tokens < 0:
            raise ValueError("thinking_tokens cannot be negative")
        if self.monthly_images is not None and self.monthly_images < 0:
            raise ValueError("monthly_images cannot be negative")
        if self.retry_rate < 0:
            raise ValueError("retry_rate cannot be negative")
        if not Decimal(0) <= self.acceptance_rate <= 1:
            raise ValueError("acceptance_rate must be between 0 and 1")
        for size in self.reference_images:
            width, height = parse_size(size)
            if width < 1 or height < 1 or width * height > MAX_REFERENCE_PIXELS:
                raise ValueError(f"reference image size {size!r} is out of range")

    @property
    def tier(self) -> str:
        """The service tier the requests are priced at."""
        return BATCH_TIER if self.batch else STANDARD_TIER


@dataclass(frozen=True, slots=True)
class Estimate:
    """One model's figures for a workflow, in micro-dollars (``None`` where undefined).

    ``per_accepted_image_micros`` is ``None`` at a zero acceptance rate, ``per_month_micros``
    when no monthly volume was given. ``estimated`` is the quote's flag: some input rested on a
    guess (an unpublished input rule, a thinking reserve, an auto size priced at its bound).
    """

    n: int
    tier: str
    unit: str
    per_request_micros: int
    per_generated_image_micros: int
    per_accepted_image_micros: int | None
    per_month_micros: int | None
    requests_per_month: Decimal | None
    accepted_per_month: Decimal | None
    estimated: bool
    breakdown: dict[str, int] = field(default_factory=dict)


def estimate(price: PriceRow, workflow: Workflow) -> Estimate:
    """Price ``workflow`` with ``price``; raises ``PricingError`` or ``UnknownTier`` when the row
    cannot price it (a size or quality it does not offer, batch on a row without a batch tier).
    """
    row = _with_thinking(price, workflow.thinking_tokens)
    size, resolution = size_fields(workflow.size)
    # A quote bounds an unpriced size or quality at the most expensive choice; an estimate must
    # not turn a typo into the dearest option, so check the named values strictly first.
    if workflow.size not in (None, AUTO) or workflow.quality not in (None, AUTO):
        per_image_price(row, workflow.size, workflow.quality)
    request = ImageRequest(
        operation="edit" if workflow.reference_images else "generate",
        model="estimate",
        prompt=prompt_of_tokens(workflow.prompt_tokens),
        dialect="estimate",
        n=workflow.n,
        size=size,
        resolution=resolution,
        quality=workflow.quality,
        input_fidelity=workflow.input_fidelity,
        partial_images=workflow.partial_images or None,
        stream=workflow.partial_images > 0,
        images=[header_only_png(*parse_size(s), f"reference-{s}.png") for s in workflow.reference_images],
    )
    charge: Charge = quote(request, row, tier=workflow.tier)
    n = requested_n(request, row)
    per_request = Decimal(charge.micros)
    paid_per_request = per_request * (1 + workflow.retry_rate)
    per_accepted = None
    if workflow.acceptance_rate > 0:
        per_accepted = _micros(paid_per_request / (n * workflow.acceptance_rate))
    requests_per_month = accepted_per_month = per_month = None
    if workflow.monthly_images is not None:
        requests_per_month = Decimal(workflow.monthly_images) / n
        accepted_per_month = workflow.monthly_images * workflow.acceptance_rate
        per_month = _micros(requests_per_month * paid_per_request)
    return Estimate(
        n=n,
        tier=workflow.tier,
        unit=charge.unit,
        per_request_micros=charge.micros,
        per_generated_image_micros=_micros(per_request / n),
        per_accepted_image_micros=per_accepted,
        per_month_micros=per_month,
        requests_per_month=requests_per_month,
        accepted_per_month=accepted_per_month,
        estimated=charge.estimated,
        breakdown=dict(charge.breakdown),
    )


def size_fields(size: str | None) -> tuple[str | None, str | None]:
    """``(size, resolution)`` of a request for a workflow's size: ``WxH`` or ``auto`` is a size,
    anything else a resolution tier (``1K``), which is how the dialects parse them too."""
    if size is None or size == AUTO:
        return size, None
    return (size, None) if is_size(size) else (None, size)


def prompt_of_tokens(tokens: int) -> str:
    """A prompt the engine counts as exactly ``tokens`` text tokens (4 ASCII bytes per token)."""
    return "abcd" * tokens


def _with_thinking(price: PriceRow, thinking_tokens: int | None) -> PriceRow:
    if thinking_tokens is None or price.unit != "token":
        return price
    # Validated again (not copied) so the row's ``edit`` variant picks the change up as well.
    return PriceRow.model_validate({**price.model_dump(), "text_output_reserve_tokens": thinking_tokens})


def _micros(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
