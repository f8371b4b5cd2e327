"""Published FLUX prices: BFL fractional MP with a first-MP premium, fal whole-MP round-up,
Replicate run fees, and per-image resellers (pricing.md §3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from imagegate.pricing.engine import per_image_price, quote, settle

from .support import assert_published, image, micros, price, request, result

# pricing.md §3.1: model, 1 MP text-to-image, 1 MP out + 1 MP reference, 2048x2048, 1920x1080.
BFL_TABLE = [
    ("flux-2-klein-4b", "0.014", "0.015", "0.017", "0.015"),
    ("flux-2-klein-9b", "0.015", "0.017", "0.021", "0.017"),
    ("flux-2-pro", "0.03", "0.045", "0.075", "0.0447"),
    ("flux-2-max", "0.07", "0.10", "0.16", "0.0993"),
    ("flux-2-flex", "0.05", "0.10", "0.20", "0.0989"),
]


@pytest.mark.parametrize(("model", "one_mp", "with_ref", "four_mp", "full_hd"), BFL_TABLE)
def test_bfl_flux_2_table(model: str, one_mp: str, with_ref: str, four_mp: str, full_hd: str) -> None:
    row = price("bfl", model)
    assert quote(request(size="1024x1024"), row).micros == micros(one_mp)
    assert quote(request(size="1024x1024", images=[image(1024, 1024)]), row).micros == micros(with_ref)
    assert quote(request(size="2048x2048"), row).micros == micros(four_mp)
    # 1920x1080 is 1.9775 MP (fractional): the table prints it to 1/10 or 1/100 of a cent.
    places = len(full_hd.split(".")[1])
    assert_published(per_image_price(row, "1920x1080", None), full_hd, places=places)


def test_bfl_fractional_mp_is_exact() -> None:
    # 0.03 + (2073600 / 1048576 - 1) * 0.015 = 0.0446630859375 -> 44663 micros (half-up).
    assert per_image_price(price("bfl", "flux-2-pro"), "1920x1080", None) == 44663


def test_bfl_small_image_pays_the_first_mp() -> None:
    assert per_image_price(price("bfl", "flux-2-pro"), "512x512", None) == micros("0.03")


def test_bfl_settles_from_the_reported_cost() -> None:
    # BFL returned cost 4.5 credits ($0.045) for a 1920x1080 flux-2-pro image.
    charge = settle(request(size="1920x1080"), result(provider_cost_usd=Decimal("0.045")), price("bfl", "flux-2-pro"))
    assert (charge.micros, charge.unit, charge.estimated) == (45000, "provider_cost", False)
    assert charge.breakdown == {"provider_cost": 45000}


def test_bfl_settles_from_reported_megapixels() -> None:
    usage = {"output_megapixels": Decimal("1.98"), "input_megapixels": Decimal("1")}
    charge = settle(request(), result(**usage), price("bfl", "flux-2-pro"))
    assert charge.breakdown == {"image_output": 30000 + 14700, "image_input": 15000}
    assert not charge.estimated


def test_bfl_without_size_quotes_the_4_mp_bound() -> None:
    assert quote(request(), price("bfl", "flux-2-pro")).micros == micros("0.075")


@pytest.mark.parametrize(
    ("model", "size", "published"),
    [
        ("fal-ai/flux-2-pro", "1024x1024", "0.03"),
        ("fal-ai/flux-2-pro", "1920x1080", "0.045"),  # 1.98 MP billed as 2
        ("fal-ai/flux-2-pro", "512x512", "0.03"),  # 0.25 MP billed as 1
        ("fal-ai/flux-2-flex", "1024x1024", "0.05"),
        ("fal-ai/flux-2-flex", "1920x1080", "0.10"),  # pricing.md: "1920x1080 = 2 MP = $0.10"
        ("fal-ai/flux-2", "1920x1080", "0.024"),
        ("fal-ai/flux/dev", "1025x1024", "0.05"),  # one pixel column over 1 MP is 2 MP
        ("fal-ai/flux/schnell", "1024x1024", "0.003"),
    ],
)
def test_fal_rounds_each_image_up_to_whole_mp(model: str, size: str, published: str) -> None:
    assert per_image_price(price("fal", model), size, None) == micros(published)


def test_fal_rounds_per_image_not_per_request() -> None:
    # Two 0.5 MP images are billed 1 MP each; rounding the request total would bill 1 MP.
    charge = quote(request(size="1024x512", n=2), price("fal", "fal-ai/flux-2-flex"))
    assert charge.micros == 2 * micros("0.05")


def test_fal_edit_inputs_are_clamped_then_rounded_per_image() -> None:
    row = price("fal", "fal-ai/flux-2-pro")
    small = quote(request(size="1024x1024", images=[image(512, 512)]), row)
    assert small.breakdown["image_input"] == micros("0.015")  # minimum 1 MP
    large = quote(request(size="1024x1024", images=[image(2100, 2100)]), row)
    assert large.breakdown["image_input"] == 4 * micros("0.015")  # 4.2 MP resized to 4 MP
    two = quote(request(size="1024x1024", images=[image(1100, 1000), image(512, 512)]), row)
    assert two.breakdown["image_input"] == (2 + 1) * micros("0.015")


def test_fal_settles_from_delivered_dimensions() -> None:
    row = price("fal", "fal-ai/flux-2-flex")
    exact = settle(request(), result(count=2, size="1920x1080"), row)
    assert (exact.micros, exact.estimated) == (2 * micros("0.10"), False)
    unknown = settle(request(), result(count=1), row)
    assert unknown.estimated and unknown.micros == 4 * micros("0.05")  # bounded at 4 MP


def test_fal_klein_edit_uses_edit_rates() -> None:
    row = price("fal", "fal-ai/flux-2/klein/4b")
    assert quote(request(size="1024x1024"), row).micros == micros("0.005")
    edit = quote(request(size="1024x1024", images=[image(1024, 1024)]), row)
    assert edit.breakdown == {"image_output": micros("0.01"), "image_input": micros("0.01")}


def test_replicate_flux_2_pro_run_fee_and_rounded_inputs() -> None:
    row = price("replicate", "black-forest-labs/flux-2-pro")
    # Replicate counts MP as 10^6 pixels: 1024x1024 is 1.048576 MP.
    t2i = quote(request(size="1024x1024"), row)
    assert t2i.breakdown == {"image_output": 15729, "per_image_fee": 15000}
    assert t2i.micros == 30729  # 0.015 + 1.048576 * 0.015 = 0.03072864
    # The source's example: a 1500x1500 reference is 2.25 MP, billed as 3.
    edit = quote(request(size="1024x1024", images=[image(1500, 1500)]), row)
    assert edit.breakdown["image_input"] == 3 * 15000


def test_replicate_flux_2_max_is_fractional() -> None:
    # $0.04 per run + 1.048576 MP x $0.03 = $0.07145728.
    assert per_image_price(price("replicate", "black-forest-labs/flux-2-max"), "1024x1024", None) == 71457


@pytest.mark.parametrize(
    ("provider", "model", "published"),
    [
        ("bfl", "flux-kontext-pro", "0.04"),
        ("bfl", "flux-kontext-max", "0.08"),
        ("bfl", "flux-pro-1.1", "0.04"),
        ("bfl", "flux-pro-1.1-ultra", "0.06"),
        ("bfl", "flux-dev", "0.025"),
        ("fal", "fal-ai/flux-pro/v1.1-ultra", "0.06"),
        ("replicate", "black-forest-labs/flux-schnell", "0.003"),
        ("replicate", "black-forest-labs/flux-dev", "0.025"),
        ("replicate", "black-forest-labs/flux-1.1-pro", "0.04"),
        ("together", "black-forest-labs/FLUX.1-schnell", "0.0027"),
        ("together", "black-forest-labs/FLUX.1-dev", "0.0154"),
    ],
)
def test_per_image_flux_rows(provider: str, model: str, published: str) -> None:
    row = price(provider, model)
    assert quote(request(), row).micros == micros(published)
    assert settle(request(), result(count=2), row).micros == 2 * micros(published)


def test_together_kontext_is_fractional_mp_of_a_million_pixels_and_free_references() -> None:
    row = price("together", "black-forest-labs/FLUX.1-kontext-pro")
    # Together's rule MP x $0.04, MP = w*h / 10^6: 1248x832 is 1.038336 MP = $0.04153344.
    assert per_image_price(row, "1248x832", None) == 41533
    edit = quote(request(size="1024x1024", images=[image(1024, 1024)]), row)
    assert edit.micros == 41943  # 1.048576 MP x $0.04; the reference is not charged ([U])
