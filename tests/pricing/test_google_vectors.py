"""Published Gemini and Imagen prices (pricing.md §2, worked examples C and D)."""

from __future__ import annotations

import pytest

from imagegate.pricing.engine import per_image_price, quote, settle

from .support import assert_published, image, micros, price, prompt, request, result

PRO = ("gemini", "gemini-3-pro-image")
FLASH = ("gemini", "gemini-3.1-flash-image")


@pytest.mark.parametrize(
    ("resolution", "tokens", "standard", "batch"),
    [("1K", 1120, "0.134", "0.067"), ("2K", 1120, "0.134", "0.067"), ("4K", 2000, "0.24", "0.12")],
)
def test_gemini_3_pro_image_per_image(resolution: str, tokens: int, standard: str, batch: str) -> None:
    charge = quote(request(resolution=resolution), price(*PRO))
    assert charge.breakdown["image_output"] == tokens * 120
    assert_published(charge.breakdown["image_output"], standard, places=3)
    batched = quote(request(resolution=resolution), price(*PRO), tier="batch")
    assert batched.breakdown["image_output"] == tokens * 60
    assert_published(batched.breakdown["image_output"], batch, places=3)


@pytest.mark.parametrize(
    ("resolution", "tokens", "standard", "batch"),
    [
        ("512", 747, "0.045", "0.022"),
        ("1K", 1120, "0.067", "0.034"),
        ("2K", 1680, "0.101", "0.050"),
        ("4K", 2520, "0.151", "0.076"),
    ],
)
def test_gemini_3_1_flash_image_per_image(resolution: str, tokens: int, standard: str, batch: str) -> None:
    row = price(*FLASH)
    assert per_image_price(row, resolution, None) == tokens * 60
    assert_published(per_image_price(row, resolution, None), standard, places=3)
    batched = quote(request(resolution=resolution), row, tier="batch").breakdown["image_output"]
    assert batched == tokens * 30
    assert_published(batched, batch)


def test_gemini_2_5_flash_image() -> None:
    row = price("gemini", "gemini-2.5-flash-image")
    assert per_image_price(row, None, None) == 1290 * 30 == 38700
    assert_published(38700, "0.039", places=3)
    # Aspect ratio never changes the token count.
    assert quote(request(aspect_ratio="21:9"), row).breakdown["image_output"] == 38700
    for tier in ("batch", "flex"):
        charged = quote(request(), row, tier=tier).breakdown["image_output"]
        assert charged == 19350
        assert_published(charged, "0.0195")


def test_preview_rows_price_like_ga() -> None:
    assert per_image_price(price("gemini", "gemini-3-pro-image-preview"), "4K", None) == 240000
    assert per_image_price(price("gemini", "gemini-3.1-flash-image-preview"), "512", None) == 44820


def test_reference_images_use_fixed_tokens_whatever_their_size() -> None:
    # "Each reference image adds about $0.0011" (3 Pro: 560 tokens at $2/1M).
    pro = quote(request(resolution="1K", images=[image(2048, 512), image(64, 64)]), price(*PRO))
    assert pro.breakdown["image_input"] == 2 * 560 * 2
    assert_published(pro.breakdown["image_input"] // 2, "0.0011", places=4)
    flash = quote(request(resolution="1K", images=[image(1024, 1024)]), price(*FLASH))
    assert flash.breakdown["image_input"] == micros("0.00056")


def test_resolution_default_and_bound() -> None:
    row = price(*FLASH)
    # Omitted: Gemini's default 1K. A pixel size: its nearest tier. Unmappable: the most expensive tier.
    assert quote(request(), row).breakdown["image_output"] == 1120 * 60
    assert quote(request(size="1536x1024"), row).breakdown["image_output"] == 1120 * 60
    assert quote(request(size="3000x2000"), row).breakdown["image_output"] == 1680 * 60
    assert quote(request(size="huge"), row).breakdown["image_output"] == 2520 * 60


def test_priority_and_flex_tiers() -> None:
    req = request(resolution="1K", prompt=prompt(60))
    priority = quote(req, price(*PRO), tier="priority")
    assert priority.breakdown["text_input"] == 216  # 60 tokens at "3 Pro input $3.60" per 1M
    flex = quote(req, price(*PRO), tier="flex")
    assert flex.breakdown["text_input"] == 60 * 1
    assert flex.breakdown["image_output"] == 134400  # no published flex discount on image output


class TestExampleC:
    """One Gemini 3 Pro Image at 4K, 60-token prompt."""

    req = request(resolution="4K", prompt=prompt(60))

    def test_quote_is_image_plus_prompt_plus_thinking_reserve(self) -> None:
        charge = quote(self.req, price(*PRO))
        assert charge.breakdown["image_output"] == micros("0.24")
        assert charge.breakdown["text_input"] == micros("0.00012")
        # Thinking is on by default: 500 tokens reserved at $12/1M, flagged as an estimate.
        assert charge.breakdown["text_output"] == 500 * 12
        assert charge.micros == 246120 and charge.estimated

    def test_settle_with_250_thinking_tokens(self) -> None:
        usage = {"input_text_tokens": 60, "output_image_tokens": 2000, "thinking_tokens": 250}
        charge = settle(self.req, result(**usage), price(*PRO))
        assert charge.breakdown == {"text_input": 120, "image_output": 240000, "text_output": 3000}
        assert_published(charge.micros, "0.243", places=3)
        assert not charge.estimated
        batch = settle(self.req, result(**usage), price(*PRO), tier="batch")
        assert batch.breakdown["image_output"] == micros("0.12")
        assert_published(batch.micros, "0.122", places=3)
        at_1k_usage = {**usage, "output_image_tokens": 1120}
        at_1k = settle(request(resolution="1K", prompt=prompt(60)), result(**at_1k_usage), price(*PRO))
        assert_published(at_1k.micros, "0.137")  # "≈ $0.137": 0.13752 agrees to the cent
        assert quote(self.req, price(*PRO)).micros >= charge.micros


@pytest.mark.parametrize(
    ("model", "published"),
    [
        ("imagen-4.0-fast-generate-001", "0.02"),
        ("imagen-4.0-generate-001", "0.04"),
        ("imagen-4.0-ultra-generate-001", "0.06"),
    ],
)
def test_imagen_per_image(model: str, published: str) -> None:
    row = price("imagen", model)
    assert quote(request(n=1), row).micros == micros(published)
    assert per_image_price(row, None, None) == micros(published)
    # sampleCount omitted means 4 images billed.
    assert quote(request(), row).micros == 4 * micros(published)


class TestExampleD:
    """Imagen 4 Standard with sampleCount left at its default of 4."""

    row = price("imagen", "imagen-4.0-generate-001")

    def test_default_sample_count_costs_four_images(self) -> None:
        charge = quote(request(prompt=prompt(60)), self.row)
        assert charge.micros == micros("0.16") and charge.breakdown == {"image_output": 160000}

    def test_settle_bills_delivered_images(self) -> None:
        four = settle(request(), result(count=4), self.row)
        assert (four.micros, four.estimated) == (160000, False)
        # One filtered: billed as delivered (whether Google bills filtered images is unverified).
        three = settle(request(), result(count=3), self.row)
        assert three.micros == 120000 <= quote(request(), self.row).micros


def test_resold_gemini_tiers() -> None:
    fal = price("fal", "fal-ai/nano-banana-2")
    assert [per_image_price(fal, tier, None) for tier in ("512", "1K", "2K", "4K")] == [
        micros("0.06"),
        micros("0.08"),
        micros("0.12"),
        micros("0.16"),
    ]
    assert quote(request(), fal).micros == micros("0.08")  # default 1K
    assert quote(request(resolution="4K"), price("fal", "fal-ai/nano-banana-pro")).micros == micros("0.30")
