"""The OpenAI Images dialect accepts exactly the fields the installed ``openai`` SDK sends."""

from __future__ import annotations

import typing

import pytest
from openai.types import image_edit_params, image_generate_params

from imagegate.api.openai.fields import EDIT_FIELDS, GENERATION_FIELDS, delivery
from imagegate.domain.errors import InvalidRequest


def _sdk_fields(module: typing.Any, base: str) -> set[str]:
    names = set(typing.get_type_hints(getattr(module, base)))
    return names | {"stream"}  # declared on the streaming/non-streaming subclasses


def test_generation_fields_are_the_sdks():
    assert _sdk_fields(image_generate_params, "ImageGenerateParamsBase") == GENERATION_FIELDS


def test_edit_fields_are_the_sdks():
    # ``moderation``: the gateway keeps accepting it on edits, as it always did.
    assert _sdk_fields(image_edit_params, "ImageEditParamsBase") | {"moderation"} == EDIT_FIELDS


def test_url_responses_are_served_once_storage_is_available():
    assert delivery("url", storage_available=True) == "url"
    assert delivery(None, storage_available=False) == delivery("b64_json", storage_available=True) == "b64_json"
    with pytest.raises(InvalidRequest) as refused:
        delivery("gif", storage_available=True)
    assert refused.value.param == "response_format"
