import dataclasses

import pytest

from imagegate.domain.capabilities import Capabilities, CustomSizeRule
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.providers.validation import check_custom_size, validate_request

RULE = CustomSizeRule(multiple_of=16, max_edge=3840, max_aspect_ratio=3.0, min_pixels=655_360, max_pixels=8_294_400)
CAPS = Capabilities(
    operations=frozenset({"generate", "edit"}),
    sizes=("auto", "1024x1024"),
    custom_size=RULE,
    qualities=("auto", "low", "medium", "high"),
    max_n=10,
    transparent_background=False,
    backgrounds=("auto", "opaque", "transparent"),
    output_formats=("png", "jpeg", "webp"),
    moderation_levels=("auto", "low"),
    max_input_images=16,
    mask=True,
    streaming=True,
    max_partial_images=3,
    max_prompt_chars=100,
)


def req(**fields) -> ImageRequest:
    base = {"operation": "generate", "model": "m", "prompt": "a cat", "dialect": "openai-images"}
    base.update(fields)
    return ImageRequest(**base)


def param_of(request: ImageRequest, caps: Capabilities = CAPS) -> str | None:
    with pytest.raises(InvalidRequest) as info:
        validate_request(request, caps, "m")
    return info.value.param


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("1000x1024", "multiples of 16"),
        ("3856x1296", "longest edge"),
        ("2400x784", "aspect ratio"),
        ("640x640", "total pixels"),
        ("2880x2896", "total pixels"),
    ],
)
def test_custom_size_rules(size, problem):
    width, height = map(int, size.split("x"))
    assert problem in check_custom_size(width, height, RULE)


def test_valid_custom_sizes_pass():
    for size in ("3840x2160", "2160x3840", "1536x1024", "2880x2880", "3072x1024"):
        validate_request(req(size=size), CAPS, "m")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 0}, "n"),
        ({"n": 11}, "n"),
        ({"size": "big"}, "size"),
        ({"size": "1000x1000"}, "size"),
        ({"quality": "ultra"}, "quality"),
        ({"background": "transparent"}, "background"),
        ({"output_format": "gif"}, "output_format"),
        ({"output_compression": 50}, "output_compression"),
        ({"output_compression": 101, "output_format": "jpeg"}, "output_compression"),
        ({"partial_images": 2}, "partial_images"),
        ({"partial_images": 4, "stream": True}, "partial_images"),
        ({"input_fidelity": "high"}, "input_fidelity"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 101}, "prompt"),
        ({"seed": 0}, "seed"),
        ({"aspect_ratio": "16:9"}, "aspect_ratio"),
    ],
)
def test_each_violation_names_its_parameter(fields, param):
    assert param_of(req(**fields)) == param


def test_seed_zero_is_a_seed_not_an_absent_value():
    # seed=0 must be checked like any other seed (``is None``, not truthiness).
    assert param_of(req(seed=0)) == "seed"


def test_transparent_needs_png_or_webp_when_supported():
    caps = dataclasses.replace(CAPS, transparent_background=True)
    validate_request(req(background="transparent", output_format="webp"), caps, "m")
    assert param_of(req(background="transparent", output_format="jpeg"), caps) == "background"


def test_errors_use_the_clients_own_parameter_names():
    request = req(operation="edit", images=[], param_names={"images": "image"})
    assert param_of(request) == "image"
    many = req(operation="edit", images=[InputImage(b"x")] * 17, param_names={"images": "image"})
    assert param_of(many) == "image"


def test_operation_not_supported_names_model():
    caps = dataclasses.replace(CAPS, operations=frozenset({"generate"}))
    assert param_of(req(operation="edit", images=[InputImage(b"x")]), caps) == "model"
