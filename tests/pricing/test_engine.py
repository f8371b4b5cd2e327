"""Engine rules independent of any provider's figures: rounding, bounds, tiers, settle fallbacks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import InputImage
from imagegate.pricing.charge import Lines
from imagegate.pricing.engine import PricingError, UnknownTier, per_image_price, quote, settle
from imagegate.pricing.rows import MEMO_ENTRIES, PriceRow
from imagegate.pricing.token_rules import area_formula_output_tokens

from .support import image, png, price, prompt, request, result

GPT2 = ("openai", "gpt-image-2")


def token_row(**changes: Any) -> PriceRow:
    """A synthetic token row, so rule tests do not depend on any provider's prices."""
    row: dict[str, Any] = {
        "unit": "token",
        "token_rates": {"text_input": "1", "image_output": "10"},
        "output_tokens": {"rule": "table", "table": {"1024x1024": {"low": 100, "high": 300}}},
        "input_images": {"rule": "fixed", "tokens": 50},
        "source": ["test"],
        "as_of": "2026-11-21",
    }
    row.update(changes)
    return PriceRow.model_validate(row)


class TestRounding:
    def test_half_up_once_at_the_end(self) -> None:
        # 0.4 + 0.4 micro: rounding each line would give 0; rounding the total gives 1.
        row = token_row(token_rates={"text_input": "0.4", "image_output": "0.004"})
        charge = quote(request(size="1024x1024", quality="low", prompt=prompt(1)), row)
        assert charge.micros == 1
        assert sum(charge.breakdown.values()) == charge.micros

    def test_half_a_micro_rounds_up_not_to_even(self) -> None:
        lines = Lines()
        lines.add("text_input", Decimal("2.5"))
        assert lines.to_charge("token").micros == 3

    def test_breakdown_spreads_the_remainder_by_largest_fraction(self) -> None:
        lines = Lines()
        for line, amount in {"a": "1.2", "b": "2.7", "c": "3.6"}.items():
            lines.add(line, Decimal(amount))
        charge = lines.to_charge("token")
        assert charge.micros == 8  # 7.5 half-up
        assert charge.breakdown == {"a": 1, "b": 3, "c": 4}

    def test_zero_lines_are_left_out(self) -> None:
        charge = quote(request(size="1024x1024", quality="low"), token_row())
        assert charge.breakdown == {"image_output": 1000}


class TestBounds:
    def test_quality_auto_and_absent_price_as_the_most_expensive(self) -> None:
        row = token_row()
        high = quote(request(size="1024x1024", quality="high"), row).micros
        assert quote(request(size="1024x1024", quality="auto"), row).micros == high
        assert quote(request(size="1024x1024"), row).micros == high

    def test_declared_defaults_win_over_the_bound(self) -> None:
        row = token_row(default_quality="low", default_size="1024x1024")
        assert quote(request(), row).micros == 1000
        # "auto" is a request to let the provider choose, so it still takes the bound.
        assert quote(request(quality="auto"), row).micros == 3000

    def test_unpriced_quality_or_size_bounds_the_quote(self) -> None:
        row = token_row()
        charge = quote(request(size="2048x2048", quality="ultra"), row)
        assert charge.micros == 3000

    def test_gpt_image_2_auto_size_is_the_largest_valid_size(self) -> None:
        row = price(*GPT2)
        for quality in ("low", "medium", "high"):
            auto = per_image_price(row, "auto", quality)
            assert auto == per_image_price(row, "2880x2880", quality) == per_image_price(row, None, quality)
        assert quote(request(), row).breakdown["image_output"] == 23719 * 30

    def test_no_valid_gpt_image_2_size_exceeds_the_auto_bound(self) -> None:
        # Every size the capability rule accepts, at the highest factor: none beats 2880x2880.
        bound = area_formula_output_tokens(2880, 2880, 96)
        worst = 0
        for width in range(16, 3841, 16):
            for height in range(16, 3841, 16):
                pixels = width * height
                if not 655_360 <= pixels <= 8_294_400 or max(width, height) > 3 * min(width, height):
                    continue
                worst = max(worst, area_formula_output_tokens(width, height, 96))
        assert worst == bound

    def test_n_absent_uses_the_row_default(self) -> None:
        row = token_row(default_n=3)
        assert quote(request(size="1024x1024", quality="low"), row).micros == 3000
        assert quote(request(size="1024x1024", quality="low", n=1), row).micros == 1000

    def test_partial_images_add_output_tokens_per_image(self) -> None:
        row = token_row(partial_image_extra_output_tokens=100)
        charge = quote(request(size="1024x1024", quality="low", n=2, partial_images=3), row)
        assert charge.breakdown["partial_images"] == 2 * 3 * 100 * 10

    def test_input_billed_per_image_multiplies_inputs_by_n(self) -> None:
        refs = [image(64, 64)]
        once = quote(request(size="1024x1024", quality="low", n=4, images=refs, prompt=prompt(10)), token_row())
        each = quote(
            request(size="1024x1024", quality="low", n=4, images=refs, prompt=prompt(10)),
            token_row(input_billed_per_image=True),
        )
        assert (once.breakdown["image_input"], once.breakdown["text_input"]) == (50, 10)
        assert (each.breakdown["image_input"], each.breakdown["text_input"]) == (200, 40)

    def test_prompt_tokens_are_utf8_bytes_over_four_rounded_up(self) -> None:
        row = token_row()
        assert quote(request(size="1024x1024", quality="low", prompt="abcde"), row).breakdown["text_input"] == 2
        # Three-byte characters count three bytes each: 4 chars = 12 bytes = 3 tokens.
        assert quote(request(size="1024x1024", quality="low", prompt="画像生成"), row).breakdown["text_input"] == 3


class TestTiers:
    def test_unknown_tier_is_refused(self) -> None:
        with pytest.raises(UnknownTier, match="priority"):
            quote(request(), price(*GPT2), tier="priority")
        with pytest.raises(UnknownTier):
            settle(request(), result(provider_cost_usd=Decimal("0.01")), price(*GPT2), tier="flex")

    def test_explicit_tier_rates_replace_only_their_lines(self) -> None:
        row = price("openai", "gpt-image-1-mini")
        req = request(size="1024x1024", quality="low", prompt=prompt(100))
        charge = settle(req, result(input_text_tokens=100, output_image_tokens=272), row, tier="batch")
        assert charge.breakdown == {"text_input": 100, "image_output": 272 * 8}

    def test_tier_token_rates_are_worked_out_once_per_tier_and_an_unknown_tier_is_not_kept(self) -> None:
        row = price("openai", "gpt-image-1-mini")
        batch = row.tier_token_rates("batch")
        assert row.tier_token_rates("batch") is batch  # the same dict: not recomputed per quote
        assert row.tier_token_rates("standard") is not batch
        assert batch["text_input"] == row.tier_token_rates("standard")["text_input"] / 2
        for _ in range(2):
            with pytest.raises(UnknownTier):
                row.tier_token_rates("priority")

    def test_a_row_keeps_at_most_its_memo_bound_and_never_keeps_a_failure(self) -> None:
        row = price(*GPT2)
        calls: list[int] = []

        def compute(value: int) -> int:
            calls.append(value)
            return value * 2

        assert [row.memoized(("t", 1), lambda: compute(1)) for _ in range(3)] == [2, 2, 2]
        assert calls == [1]
        for value in range(MEMO_ENTRIES * 3):
            row.memoized(("t", value), lambda value=value: compute(value))
        assert len(row._memo) <= MEMO_ENTRIES  # bounded however many request shapes arrive

        def fail() -> int:
            calls.append(-1)
            raise PricingError("not priced")

        for _ in range(2):
            with pytest.raises(PricingError):
                row.memoized(("t", "bad"), fail)
        assert calls.count(-1) == 2

    def test_multiplier_scales_per_image_and_megapixel_rows(self) -> None:
        row = PriceRow.model_validate(
            {
                "unit": "image",
                "image_prices": [{"usd": "0.04"}],
                "tiers": {"batch": {"multiplier": "0.5"}},
                "source": ["test"],
                "as_of": "2026-11-21",
            }
        )
        assert quote(request(n=2), row, tier="batch").micros == 40000
        flux = price("bfl", "flux-2-pro")
        multiplied = PriceRow.model_validate({**flux.model_dump(), "tiers": {"priority": {"multiplier": "2"}}})
        assert quote(request(size="1024x1024"), multiplied, tier="priority").micros == 60000


class TestSettle:
    def test_usage_is_priced_and_not_estimated(self) -> None:
        usage = {"input_text_tokens": 10, "input_image_tokens": 20, "output_image_tokens": 30, "output_text_tokens": 4}
        charge = settle(request(), result(**usage), price("openai", "gpt-image-1.5"))
        assert charge.breakdown == {"text_input": 50, "image_input": 160, "image_output": 960, "text_output": 40}
        assert not charge.estimated

    def test_cached_tokens_are_a_subset_attributed_to_text_first(self) -> None:
        usage = {
            "input_text_tokens": 60,
            "input_image_tokens": 100,
            "cached_input_tokens": 80,
            "output_image_tokens": 0,
        }
        charge = settle(request(), result(**usage), price(*GPT2))
        # 60 text cached at $1.25, 20 image cached at $2, 80 image uncached at $8.
        assert charge.breakdown == {"text_input_cached": 75, "image_input_cached": 40, "image_input": 640}

    def test_missing_output_group_falls_back_to_the_delivered_size(self) -> None:
        req = request(size="auto", quality="auto", prompt=prompt(60))
        charge = settle(req, result(count=2, size="1536x1024", quality="high", input_text_tokens=60), price(*GPT2))
        assert charge.breakdown == {"text_input": 300, "image_output": 2 * 5488 * 30}
        assert charge.estimated

    def test_no_usage_at_all_is_estimated_from_the_rules(self) -> None:
        req = request(size="1024x1024", quality="medium", prompt=prompt(60))
        charge = settle(req, result(), price(*GPT2))
        assert charge.micros == 52980 and charge.estimated

    def test_reported_group_missing_counters_count_as_zero(self) -> None:
        # Output reported as text only: no image-output fallback on top of it.
        charge = settle(request(), result(input_text_tokens=1, output_text_tokens=10), price("openai", "gpt-image-1.5"))
        assert charge.breakdown == {"text_input": 5, "text_output": 100}
        assert not charge.estimated

    def test_provider_cost_wins_over_usage(self) -> None:
        charge = settle(request(), result(provider_cost_usd=Decimal("0.0123456"), output_image_tokens=99), price(*GPT2))
        assert (charge.micros, charge.unit) == (12346, "provider_cost")

    def test_per_image_settle_with_unknown_size_is_estimated(self) -> None:
        row = price("openai", "dall-e-3")
        exact = settle(request(quality="hd"), result(size="1792x1024"), row)
        assert (exact.micros, exact.estimated) == (120000, False)
        bounded = settle(request(size="auto", quality="hd"), result(), row)
        assert (bounded.micros, bounded.estimated) == (120000, True)


# Each case: provider, model, request fields, usage that the published rules predict.
QUOTE_COVERS_SETTLE = [
    (
        "openai",
        "gpt-image-2",
        {"size": "1024x1024", "quality": "high"},
        {"input_text_tokens": 15, "output_image_tokens": 7024},
    ),
    ("openai", "gpt-image-2", {}, {"input_text_tokens": 15, "output_image_tokens": 5488}),
    (
        "openai",
        "gpt-image-2",
        {"images": [image(1024, 1024)], "n": 2},
        {"input_text_tokens": 30, "input_image_tokens": 2 * 1500, "output_image_tokens": 2 * 1756},
    ),
    (
        "openai",
        "gpt-image-1.5",
        {"images": [image(1536, 1024)], "input_fidelity": "high"},
        {"input_text_tokens": 15, "input_image_tokens": 6467, "output_image_tokens": 6208},
    ),
    ("openai", "gpt-image-1-mini", {"size": "1536x1024"}, {"input_text_tokens": 15, "output_image_tokens": 6208}),
    (
        "gemini",
        "gemini-3-pro-image",
        {"resolution": "2K", "images": [image(64, 64)]},
        {"input_text_tokens": 15, "input_image_tokens": 560, "output_image_tokens": 1120, "thinking_tokens": 400},
    ),
    (
        "gemini",
        "gemini-3.1-flash-image",
        {"resolution": "4K"},
        {"input_text_tokens": 15, "output_image_tokens": 2520, "output_text_tokens": 482},
    ),
    ("imagen", "imagen-4.0-generate-001", {}, {}),
    (
        "bfl",
        "flux-2-pro",
        {"size": "1920x1080", "images": [image(1024, 1024)]},
        {"output_megapixels": Decimal("1.9775390625"), "input_megapixels": Decimal(1)},
    ),
    ("fal", "fal-ai/flux-2-pro", {"images": [image(1100, 1000)]}, {}),
]


@pytest.mark.parametrize(("provider", "model", "fields", "usage"), QUOTE_COVERS_SETTLE)
def test_quote_covers_settle_when_usage_matches_the_rules(provider: str, model: str, fields: dict, usage: dict) -> None:
    row = price(provider, model)
    req = request(prompt=prompt(15), **fields)
    reserved = quote(req, row)
    delivered = req.n if req.n is not None else row.default_n
    settled = settle(req, result(count=delivered, size=req.size, **usage), row)
    assert 0 < settled.micros <= reserved.micros
    # Settling from the rules alone (no usage) stays within the quote too.
    assert settle(req, result(count=delivered), row).micros <= reserved.micros


class TestPerImagePrice:
    def test_unpriced_size_or_quality_raises(self) -> None:
        with pytest.raises(PricingError, match="size '2048x2048'"):
            per_image_price(price("openai", "gpt-image-1"), "2048x2048", "high")
        with pytest.raises(PricingError, match="quality 'ultra'"):
            per_image_price(price("openai", "dall-e-3"), "1024x1024", "ultra")
        with pytest.raises(PricingError, match="'1K'"):
            per_image_price(price("bfl", "flux-2-pro"), "1K", None)

    def test_excludes_inputs_and_tiers(self) -> None:
        assert per_image_price(price(*GPT2), "1024x1024", "low") == 196 * 30


class TestInputImages:
    def test_dimensions_come_from_the_header_only(self) -> None:
        # A PNG cut right after its header still prices: pixel data is never decoded.
        truncated = InputImage(data=png(1536, 1024)[:64])
        charge = quote(request(size="1024x1024", quality="low", images=[truncated]), price("openai", "gpt-image-1"))
        assert charge.breakdown["image_input"] == 323 * 10

    def test_unreadable_image_is_an_invalid_request(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            quote(request(images=[InputImage(data=b"not an image")]), price("openai", "gpt-image-1"))
        assert caught.value.param == "image"

    def test_a_row_without_an_input_rule_refuses_images(self) -> None:
        with pytest.raises(PricingError, match="input images"):
            quote(request(size="1024x1024", images=[image(64, 64)]), token_row(input_images=None))


class TestRowValidation:
    def test_unit_needs_its_fields(self) -> None:
        with pytest.raises(ValidationError, match="unit 'token' needs output_tokens"):
            token_row(output_tokens=None)

    def test_tier_rates_only_on_token_rows(self) -> None:
        with pytest.raises(ValidationError, match="explicit rates only apply to token rows"):
            PriceRow.model_validate(
                {
                    "unit": "image",
                    "image_prices": [{"usd": "1"}],
                    "tiers": {"batch": {"rates": {"text_input": "1"}}},
                    "source": ["t"],
                    "as_of": "2026-11-21",
                }
            )

    def test_edit_overrides_apply_to_edits_only_and_are_validated(self) -> None:
        row = token_row(edit={"token_rates": {"image_output": "20"}})
        assert row.for_operation("edit").token_rates.image_output == Decimal(20)
        assert row.for_operation("generate") is row
        with pytest.raises(ValidationError, match="image_output"):
            token_row(edit={"token_rates": {"image_output": "-1"}})

    def test_negative_rates_are_rejected(self) -> None:
        with pytest.raises(ValidationError, match="greater than or equal to 0"):
            token_row(token_rates={"text_input": "-1", "image_output": "1"})
