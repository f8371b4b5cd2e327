"""Sizes that are not canonical ``WIDTHxHEIGHT`` are a 400 naming ``size`` on every route, before any call.

``0x0`` and other non-positive sizes, ``1024X1024`` and fullwidth digits were once either priced or
forwarded to the provider as sent (and billed); domain/size.py is now the one parser.
"""

from __future__ import annotations

import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types
from openai import OpenAI

BAD_SIZES = ["0x0", "0x1024", "1024X1024", "１０２４x１０２４", "01024x1024"]


@pytest.fixture
def oai(google_gateway, google_key) -> OpenAI:
    return OpenAI(base_url=google_gateway.url + "/v1", api_key=google_key, max_retries=0)


# gpt-image-2 takes custom sizes, gpt-image-1.5 a fixed list, Gemini (and Imagen's replacement) aspect ratios.
@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1.5", "nano-banana-2", "imagen-4"])
@pytest.mark.parametrize("size", BAD_SIZES)
def test_openai_dialect_refuses_a_size_that_is_not_canonical(oai, google_gateway, model, size):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.images.generate(model=model, prompt="a lighthouse", size=size)  # type: ignore[arg-type]
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "size" and repr(size) in error["message"]
    assert google_gateway.ledger(caught.value.response.headers["x-request-id"], wait=False) == []


@pytest.mark.parametrize("image_size", ["0x0", "1024X1024", "１K"])
def test_gemini_dialect_refuses_a_non_tier_image_size_for_a_gpt_image_route(genai_client, image_size):
    config = types.GenerateContentConfig(image_config=types.ImageConfig(image_size=image_size))
    with pytest.raises(genai_errors.ClientError) as caught:
        genai_client.models.generate_content(model="gpt-image-2", contents="a lighthouse", config=config)
    assert caught.value.code == 400 and "imageSize" in str(caught.value.message)
