"""The estimator on the worked examples of pricing.md §5.3 (A-D), and its arithmetic and errors."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from imagegate.pricing.engine import PricingError, UnknownTier, quote
from imagegate.pricing.estimate import Workflow, estimate, prompt_of_tokens, size_fields

from .support import image, micros, price, prompt, request

GPT2 = ("openai", "gpt-image-2")
A = Workflow(size="1024x1024", quality="medium", prompt_tokens=60, monthly_images=1000)


class TestExampleA:
    """1000 gpt-image-2 images, medium, 1024x1024, 60-token prompt, n=1."""

    def test_per_request_and_per_thousand(self) -> None:
        figures = estimate(price(*GPT2), A)
        assert (figures.per_request_micros, figures.per_generated_image_micros) == (52980, 52980)
        assert figures.per_month_micros == micros("52.98")
        assert figures.breakdown == {"image_output": 52680, "text_input": 300}
        assert figures.n == 1 and not figures.estimated

    def test_batch(self) -> None:
        figures = estimate(price(*GPT2), replace(A, batch=True))
        assert figures.per_month_micros == micros("26.49") and figures.tier == "batch"

    def test_two_partial_images(self) -> None:
        figures = estimate(price(*GPT2), replace(A, partial_images=2))
        assert figures.breakdown["partial_images"] == 6000
        assert figures.per_month_micros == micros("58.98")

    def test_850_accepted_of_1000(self) -> None:
        figures = estimate(price(*GPT2), replace(A, acceptance_rate=Decimal("0.85")))
        # $52.98 / 850 = $0.062329..., printed $0.0623.
        assert figures.per_accepted_image_micros == 62329
        assert round(Decimal(figures.per_accepted_image_micros) / 1_000_000, 4) == Decimal("0.0623")
        assert figures.accepted_per_month == 850 and figures.requests_per_month == 1000

    def test_n_10_bills_the_input_per_image(self) -> None:
        figures = estimate(price(*GPT2), replace(A, n=10))
        assert figures.per_request_micros * 100 == micros("52.98")
        assert figures.per_generated_image_micros == 52980


class TestExampleB:
    """Two 1024x1024 references, 1024x1024 medium output, 60-token prompt."""

    refs = ("1024x1024", "1024x1024")

    def test_gpt_image_1_5(self) -> None:
        low = estimate(
            price("openai", "gpt-image-1.5"),
            Workflow(size="1024x1024", quality="medium", prompt_tokens=60, reference_images=self.refs),
        )
        assert low.per_request_micros == 37196 and low.breakdown["image_input"] == 388 * 8
        high = estimate(
            price("openai", "gpt-image-1.5"),
            Workflow(
                size="1024x1024", quality="medium", prompt_tokens=60, reference_images=self.refs, input_fidelity="high"
            ),
        )
        assert high.per_request_micros == 102732

    def test_gpt_image_2_is_the_upper_estimate(self) -> None:
        figures = estimate(
            price(*GPT2), Workflow(size="1024x1024", quality="medium", prompt_tokens=60, reference_images=self.refs)
        )
        assert figures.per_request_micros == 300 + 2 * 1838 * 8 + 52680 == 82388
        assert figures.estimated

    def test_header_only_references_price_like_real_uploads(self) -> None:
        real = quote(
            request(
                size="1024x1024", quality="medium", prompt=prompt(60), images=[image(1536, 1024), image(512, 2048)]
            ),
            price("openai", "gpt-image-1"),
        )
        described = estimate(
            price("openai", "gpt-image-1"),
            Workflow(size="1024x1024", quality="medium", prompt_tokens=60, reference_images=("1536x1024", "512x2048")),
        )
        assert described.per_request_micros == real.micros and described.breakdown == real.breakdown


class TestExampleC:
    """One Gemini 3 Pro Image at 4K, 60-token prompt, 250 thinking tokens."""

    def test_standard_and_batch(self) -> None:
        row = price("gemini", "gemini-3-pro-image")
        figures = estimate(row, Workflow(size="4K", prompt_tokens=60, thinking_tokens=250))
        assert figures.breakdown == {"text_input": 120, "image_output": 240000, "text_output": 3000}
        assert figures.per_request_micros == 243120  # "≈ $0.243"
        batch = estimate(row, Workflow(size="4K", prompt_tokens=60, thinking_tokens=250, batch=True))
        assert batch.per_request_micros == 121560 and batch.breakdown["image_output"] == 120000  # "≈ $0.122"
        one_k = estimate(row, Workflow(size="1K", prompt_tokens=60, thinking_tokens=250))
        assert one_k.per_request_micros == 137520  # "≈ $0.137"

    def test_without_thinking_tokens_the_reserve_applies(self) -> None:
        figures = estimate(price("gemini", "gemini-3-pro-image"), Workflow(size="4K", prompt_tokens=60))
        assert figures.per_request_micros == 246120 and figures.estimated


class TestExampleD:
    """Imagen 4 Standard, sampleCount left at its default of 4."""

    row = price("imagen", "imagen-4.0-generate-001")

    def test_default_count_is_four_images(self) -> None:
        figures = estimate(self.row, Workflow(prompt_tokens=60))
        assert (figures.n, figures.per_request_micros, figures.per_generated_image_micros) == (4, 160000, 40000)

    def test_cost_per_accepted_image(self) -> None:
        three_of_four = estimate(self.row, Workflow(prompt_tokens=60, acceptance_rate=Decimal(3) / 4))
        assert three_of_four.per_accepted_image_micros == 53333  # $0.16 / 3
        one_used = estimate(self.row, Workflow(prompt_tokens=60, acceptance_rate=Decimal("0.25")))
        assert one_used.per_accepted_image_micros == 160000  # 4x the list price
        explicit = estimate(self.row, Workflow(prompt_tokens=60, n=1))
        assert explicit.per_request_micros == 40000


def test_retries_weigh_on_accepted_images_and_the_month() -> None:
    figures = estimate(
        price(*GPT2),
        Workflow(
            size="1024x1024",
            quality="low",
            n=2,
            monthly_images=1000,
            retry_rate=Decimal("0.1"),
            acceptance_rate=Decimal("0.5"),
        ),
    )
    per_request = 2 * 196 * 30
    assert figures.per_request_micros == per_request
    assert figures.per_generated_image_micros == per_request // 2
    assert figures.per_accepted_image_micros == round(per_request * Decimal("1.1") / (2 * Decimal("0.5")))
    assert figures.requests_per_month == 500
    assert figures.per_month_micros == 500 * per_request * Decimal("1.1")


def test_nothing_accepted_and_no_volume_leave_figures_undefined() -> None:
    figures = estimate(price(*GPT2), Workflow(size="1024x1024", quality="low", acceptance_rate=Decimal(0)))
    assert figures.per_accepted_image_micros is None
    assert figures.per_month_micros is None and figures.requests_per_month is None


def test_auto_quality_is_priced_at_the_most_expensive() -> None:
    auto = estimate(price(*GPT2), Workflow(size="1024x1024", quality="auto"))
    assert auto.per_request_micros == 7024 * 30


@pytest.mark.parametrize(
    ("row", "workflow", "error"),
    [
        (GPT2, Workflow(size="1024x1024", quality="medum"), PricingError),  # a typo is not the dearest quality
        (("gemini", "gemini-3-pro-image"), Workflow(size="huge"), PricingError),  # neither a tier nor WxH
        (("imagen", "imagen-4.0-generate-001"), Workflow(batch=True), UnknownTier),
    ],
)
def test_what_a_row_cannot_price_is_an_error(row, workflow, error) -> None:
    with pytest.raises(error):
        estimate(price(*row), workflow)


@pytest.mark.parametrize(
    "fields",
    [
        {"n": 0},
        {"acceptance_rate": Decimal("1.5")},
        {"retry_rate": Decimal(-1)},
        {"reference_images": ("big",)},
        {"reference_images": ("20000x20000",)},
        {"prompt_tokens": -1},
    ],
)
def test_invalid_workflows(fields) -> None:
    with pytest.raises(ValueError):
        Workflow(**fields)


def test_size_fields_and_prompt() -> None:
    assert size_fields("1024x1024") == ("1024x1024", None)
    assert size_fields("4K") == (None, "4K")
    assert size_fields("auto") == ("auto", None) and size_fields(None) == (None, None)
    assert len(prompt_of_tokens(60).encode()) == 240
