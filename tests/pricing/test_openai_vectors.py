"""Published OpenAI prices (pricing.md §1 and worked examples A and B) reproduced by the engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from imagegate.domain.request import ImageRequest
from imagegate.pricing.engine import per_image_price, quote, settle
from imagegate.pricing.rows import PriceRow

from .support import assert_published, image, micros, price, prompt, request, result

GPT2 = ("openai", "gpt-image-2")


@pytest.mark.parametrize(
    ("size", "quality", "published", "tokens"),
    [
        ("1024x1024", "low", "0.006", 196),
        ("1024x1024", "medium", "0.053", 1756),
        ("1024x1024", "high", "0.211", 7024),
        ("1024x1536", "low", "0.005", 158),
        ("1024x1536", "medium", "0.041", 1372),
        ("1024x1536", "high", "0.165", 5488),
        ("1536x1024", "low", "0.005", 158),
        ("1536x1024", "medium", "0.041", 1372),
        ("1536x1024", "high", "0.165", 5488),
    ],
)
def test_gpt_image_2_guide_prices(size: str, quality: str, published: str, tokens: int) -> None:
    charge = quote(request(size=size, quality=quality), price(*GPT2))
    assert charge.micros == tokens * 30  # $30 per 1M output tokens = 30 micros per token
    assert charge.breakdown == {"image_output": tokens * 30}
    assert_published(charge.micros, published)
    assert per_image_price(price(*GPT2), size, quality) == charge.micros


# pricing.md §1.3: size, tokens (low, medium, high), published $ (low, medium, high).
SECTION_1_3 = [
    ("1024x1024", (196, 1756, 7024), ("0.0059", "0.0527", "0.2107")),
    ("1024x1536", (158, 1372, 5488), ("0.0047", "0.0412", "0.1646")),
    ("1536x1024", (158, 1372, 5488), ("0.0047", "0.0412", "0.1646")),
    ("1024x768", (134, 1204, 4815), ("0.0040", "0.0361", "0.1444")),
    ("768x1024", (134, 1204, 4815), ("0.0040", "0.0361", "0.1444")),
    ("1920x1080", (147, 1320, 5280), ("0.0044", "0.0396", "0.1584")),
    ("1080x1920", (147, 1320, 5280), ("0.0044", "0.0396", "0.1584")),
    ("2048x1152", (157, 1413, 5650), ("0.0047", "0.0424", "0.1695")),
    ("1152x2048", (157, 1413, 5650), ("0.0047", "0.0424", "0.1695")),
    ("2048x2048", (397, 3568, 14272), ("0.0119", "0.1070", "0.4282")),
    ("2560x1440", (205, 1843, 7370), ("0.0062", "0.0553", "0.2211")),
    ("1440x2560", (205, 1843, 7370), ("0.0062", "0.0553", "0.2211")),
    ("3840x2160", (371, 3336, 13342), ("0.0111", "0.1001", "0.4003")),
    ("2160x3840", (371, 3336, 13342), ("0.0111", "0.1001", "0.4003")),
    ("2880x2880", (659, 5930, 23719), ("0.0198", "0.1779", "0.7116")),
]


@pytest.mark.parametrize(("size", "tokens", "published"), SECTION_1_3)
def test_gpt_image_2_section_1_3_table(size: str, tokens: tuple, published: tuple) -> None:
    for quality, expected_tokens, figure in zip(("low", "medium", "high"), tokens, published, strict=True):
        amount = per_image_price(price(*GPT2), size, quality)
        assert amount == expected_tokens * 30, (size, quality)
        # The table is printed to 1/100 of a cent, and agrees to that precision.
        assert_published(amount, figure, places=4)


@pytest.mark.parametrize("variant", ["gpt-image-2.5-sunburst", "gpt-image-2.5-flare"])
def test_gpt_image_2_5_quality_ladder_fits_the_measurement(variant: str) -> None:
    # The one community measurement at 2048x1152 the factors were fitted to.
    measured = {"low": 157, "medium": 367, "high": 1413, "xhigh": 2511, "max": 5650}
    for quality, tokens in measured.items():
        assert per_image_price(price("openai", variant), "2048x1152", quality) == tokens * 30


LEGACY_TOKENS = {
    "1024x1024": {"low": 272, "medium": 1056, "high": 4160},
    "1024x1536": {"low": 408, "medium": 1584, "high": 6240},
    "1536x1024": {"low": 400, "medium": 1568, "high": 6208},
}
PUBLISHED_PER_IMAGE = {
    ("gpt-image-1.5", 32): {
        "1024x1024": ("0.009", "0.034", "0.133"),
        "1024x1536": ("0.013", "0.05", "0.2"),
        "1536x1024": ("0.013", "0.05", "0.2"),
    },
    ("gpt-image-1", 40): {
        "1024x1024": ("0.011", "0.042", "0.167"),
        "1024x1536": ("0.016", "0.063", "0.25"),
        "1536x1024": ("0.016", "0.063", "0.25"),
    },
}


@pytest.mark.parametrize(("model", "rate"), list(PUBLISHED_PER_IMAGE))
def test_legacy_per_image_tables(model: str, rate: int) -> None:
    row = price("openai", model)
    for size, figures in PUBLISHED_PER_IMAGE[(model, rate)].items():
        for quality, figure in zip(("low", "medium", "high"), figures, strict=True):
            amount = per_image_price(row, size, quality)
            assert amount == LEGACY_TOKENS[size][quality] * rate
            assert_published(amount, figure)


def test_chatgpt_image_latest_prices_as_gpt_image_1_5() -> None:
    assert price("openai", "chatgpt-image-latest") is price("openai", "gpt-image-1.5")


def test_gpt_image_1_mini_bills_from_usage_not_the_table() -> None:
    row = price("openai", "gpt-image-1-mini")
    req = request(size="1024x1024", quality="high", prompt=prompt(50))
    charge = settle(req, result(input_text_tokens=50, output_image_tokens=4160), row)
    assert charge.micros == 50 * 2 + 4160 * 8
    assert charge.breakdown == {"text_input": 100, "image_output": 33280}
    assert not charge.estimated
    # The quote reserves the official per-image price ($0.036), a ceiling over the token table.
    reserved = quote(req, row)
    assert reserved.breakdown["image_output"] == micros("0.036")
    assert reserved.micros >= charge.micros
    for size, figures in {"1024x1024": ("0.005", "0.011", "0.036"), "1536x1024": ("0.006", "0.015", "0.052")}.items():
        for quality, figure in zip(("low", "medium", "high"), figures, strict=True):
            assert per_image_price(row, size, quality) == micros(figure)


def test_dall_e_per_image_prices() -> None:
    dalle3 = price("openai", "dall-e-3")
    assert per_image_price(dalle3, "1024x1024", "standard") == micros("0.04")
    assert per_image_price(dalle3, "1792x1024", "standard") == micros("0.08")
    assert per_image_price(dalle3, "1024x1792", "hd") == micros("0.12")
    # Omitted quality is the provider's default (standard), not the most expensive.
    assert quote(request(size="1024x1024"), dalle3).micros == micros("0.04")
    assert quote(request(), dalle3).micros == micros("0.04")
    dalle2 = price("openai", "dall-e-2")
    assert [per_image_price(dalle2, f"{s}x{s}", None) for s in (256, 512, 1024)] == [16000, 18000, 20000]
    assert quote(request(n=10, size="256x256"), dalle2).micros == 160000


class TestExampleA:
    """1000 gpt-image-2 images, medium, 1024x1024, 60-token prompt, n=1."""

    req = request(size="1024x1024", quality="medium", prompt=prompt(60))

    def test_per_request_and_per_thousand(self) -> None:
        charge = quote(self.req, price(*GPT2))
        assert charge.breakdown == {"image_output": 52680, "text_input": 300}
        assert charge.micros == 52980 and not charge.estimated
        assert charge.micros * 1000 == micros("52.98")
        # 850 accepted out of 1000: cost per accepted image.
        per_accepted = Decimal(charge.micros * 1000) / 850 / 1_000_000
        assert round(per_accepted, 4) == Decimal("0.0623")

    def test_batch_halves_it(self) -> None:
        assert quote(self.req, price(*GPT2), tier="batch").micros * 1000 == micros("26.49")

    def test_two_partial_images(self) -> None:
        req = request(size="1024x1024", quality="medium", prompt=prompt(60), stream=True, partial_images=2)
        charge = quote(req, price(*GPT2))
        assert charge.breakdown["partial_images"] == micros("0.006")
        assert charge.micros * 1000 == micros("58.98")

    def test_n_10_with_input_billed_once(self) -> None:
        row = price(*GPT2)
        once = PriceRow.model_validate({**row.model_dump(), "input_billed_per_image": False})
        req = request(size="1024x1024", quality="medium", prompt=prompt(60), n=10)
        assert quote(req, once).micros * 100 == micros("52.71")
        assert quote(req, row).micros * 100 == micros("52.98")

    def test_settles_to_the_same_figure_from_usage(self) -> None:
        charge = settle(self.req, result(input_text_tokens=60, output_image_tokens=1756), price(*GPT2))
        assert (charge.micros, charge.estimated) == (52980, False)


class TestExampleB:
    """A two-reference edit: 1024x1024 references, 1024x1024 medium output, 60-token prompt."""

    def _req(self, **fields: object) -> ImageRequest:
        refs = [image(1024, 1024), image(1024, 1024)]
        return request(size="1024x1024", quality="medium", prompt=prompt(60), images=refs, **fields)

    def test_gpt_image_1_5_low_fidelity(self) -> None:
        charge = quote(self._req(), price("openai", "gpt-image-1.5"))
        assert charge.breakdown == {"image_input": 388 * 8, "image_output": 1056 * 32, "text_input": 300}
        assert charge.micros == 37196
        assert_published(charge.micros, "0.0372", places=4)

    def test_gpt_image_1_5_high_fidelity(self) -> None:
        charge = quote(self._req(input_fidelity="high"), price("openai", "gpt-image-1.5"))
        assert charge.breakdown["image_input"] == 8580 * 8 == micros("0.06864")
        assert charge.micros == 102732
        assert_published(charge.micros, "0.1027", places=4)

    def test_gpt_image_1_5_settles_below_the_quote(self) -> None:
        row = price("openai", "gpt-image-1.5")
        usage = {"input_text_tokens": 60, "input_image_tokens": 388, "output_image_tokens": 1056}
        charge = settle(self._req(), result(**usage), row)
        assert charge.micros == 37196 and not charge.estimated
        assert quote(self._req(), row).micros >= charge.micros

    def test_gpt_image_2_reserves_the_upper_estimate(self) -> None:
        charge = quote(self._req(), price(*GPT2))
        # Inputs have no published rule: 1838 tokens per reference, marked as an estimate.
        assert charge.breakdown["image_input"] == 2 * 1838 * 8
        assert charge.estimated
        assert_published(charge.micros, "0.082", places=3)
        usage = {"input_text_tokens": 60, "input_image_tokens": 2000, "output_image_tokens": 1756}
        settled = settle(self._req(), result(**usage), price(*GPT2))
        assert not settled.estimated and settled.micros == 300 + 16000 + 52680 <= charge.micros


def test_gpt_image_1_tile_rule_for_non_square_references() -> None:
    # images-vision guide: a 1536x1024 reference is 323 tokens, 6467 at high fidelity.
    row = price("openai", "gpt-image-1")
    low = quote(request(size="1024x1024", quality="low", images=[image(1536, 1024)]), row)
    high = quote(request(size="1024x1024", quality="low", images=[image(1536, 1024)], input_fidelity="high"), row)
    assert low.breakdown["image_input"] == 323 * 10
    assert high.breakdown["image_input"] == 6467 * 10
