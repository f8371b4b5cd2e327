"""OpenAI's token ``usage`` objects on the domain's counters: the Images API's ``usage`` and the
Responses image tool's ``tool_usage.image_gen`` have the same shape.

A usage object of the wrong shape is the provider's bad response (``UpstreamBadResponse``), never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagegate.domain.errors import UpstreamBadResponse
from imagegate.domain.result import Usage


def usage_object(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The object under ``key`` (empty when absent); anything else is a bad response."""
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UpstreamBadResponse(f"the provider's usage field '{key}' is not an object")
    return value


def token_count(raw: Mapping[str, Any], key: str) -> int | None:
    """A token count under ``key`` (None when absent); anything but a non-negative int is a bad response."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UpstreamBadResponse(f"the provider's usage field '{key}' is not a token count")
    return value


def usage_from_openai(raw: Mapping[str, Any] | None) -> Usage:
    """Map OpenAI's image ``usage`` object onto the domain's counters (absent stays None).

    A usage object of the wrong shape is the provider's bad response, never a crash.
    """
    if raw is None:
        return Usage()
    if not isinstance(raw, Mapping):
        raise UpstreamBadResponse("the provider's 'usage' is not an object")
    input_details = usage_object(raw, "input_tokens_details")
    output_details = usage_object(raw, "output_tokens_details")
    output_image = token_count(output_details, "image_tokens")
    output_text = token_count(output_details, "text_tokens")
    if output_image is None and output_text is None:
        output_image = token_count(raw, "output_tokens")
    input_text = token_count(input_details, "text_tokens")
    input_image = token_count(input_details, "image_tokens")
    if input_text is None and input_image is None:
        input_text = token_count(raw, "input_tokens")
    return Usage(
        raw=dict(raw),
        input_text_tokens=input_text,
        input_image_tokens=input_image,
        cached_input_tokens=token_count(input_details, "cached_tokens"),
        output_image_tokens=output_image,
        output_text_tokens=output_text,
    )
