"""The OpenAI Responses API with the ``image_generation`` tool: pure wire transforms.

The client's body is forwarded as sent (only ``model`` becomes the route's); the answer is kept
raw and only its skeleton parsed (base64 ``result`` and ``partial_image_b64`` blanked) to count
the tool's images and read both usages: ``usage`` (the mainline model) and
``tool_usage.image_gen`` (the image tool). An ``image_generation_call`` item with ``status:
failed`` is a failure inside a 200: forwarded as is, recorded under its error code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from imagegate.domain.errors import UpstreamBadResponse
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, StreamEvent, Usage
from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.openai.errors import error_from_body
from imagegate.providers.openai.usage import token_count, usage_from_openai, usage_object
from imagegate.providers.skeleton import MalformedBody, parse_skeleton
from imagegate.providers.sse import frame_fields, sse_frames

RESPONSES_PATH = "/responses"
RESPONSE_KEYS = (b"result", b"partial_image_b64")
# What an image tool call's failure is recorded as when its error carries no code.
_DEFAULT_FAILURE = "image_generation_failed"
# The stream events whose body is read (skeleton only); every other frame passes unread.
_PARSED_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})


def tool_usage(raw: Mapping[str, Any]) -> Usage | None:
    """``tool_usage.image_gen`` on the domain's counters (None when the tool reported nothing).

    Its shape is the Images API's ``usage``, except that cached tokens may sit at its top level.
    """
    image_gen = usage_object(usage_object(raw, "tool_usage"), "image_gen")
    if not image_gen:
        return None
    usage = usage_from_openai(image_gen)
    if usage.cached_input_tokens is None:
        usage = dataclasses.replace(usage, cached_input_tokens=token_count(image_gen, "cached_tokens"))
    return usage


def response_usage(response: Mapping[str, Any]) -> Usage:
    """Both usages of a ``Response`` object: the mainline model's tokens and the image tool's.

    ``raw`` keeps both objects as sent (``usage`` and ``tool_usage``) for the ledger.
    """
    usage = usage_object(response, "usage")
    inputs = usage_object(usage, "input_tokens_details")
    raw: dict[str, Any] = {}
    if usage:
        raw["usage"] = dict(usage)
    if response.get("tool_usage") is not None:
        raw["tool_usage"] = response["tool_usage"]
    return Usage(
        raw=raw,
        input_text_tokens=token_count(usage, "input_tokens"),
        cached_input_tokens=token_count(inputs, "cached_tokens"),
        output_text_tokens=token_count(usage, "output_tokens"),  # reasoning tokens are part of it
        image_tool=tool_usage(response),
    )


def image_calls(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``image_generation_call`` items of a ``Response``'s output."""
    output = response.get("output")
    if output is None:
        return []
    if not isinstance(output, list):
        raise UpstreamBadResponse("the provider's 'output' is not a list")
    return [item for item in output if isinstance(item, Mapping) and item.get("type") == "image_generation_call"]


def failure_of(calls: list[Mapping[str, Any]]) -> str | None:
    """The error code of the first failed image call (``moderation_blocked`` ...), if any."""
    for call in calls:
        if call.get("status") == "failed":
            error = call.get("error")
            code = error.get("code") if isinstance(error, Mapping) else None
            return code if isinstance(code, str) else _DEFAULT_FAILURE
    return None


def responses_wire(request: ImageRequest, route: RouteTarget, headers: dict[str, str]) -> WireRequest:
    """The client's body as sent, with the route's model, to ``{base_url}/responses``."""
    body = dict(request.native if request.native is not None else {})
    body["model"] = route.model
    headers = {**headers, "content-type": "application/json"}
    url = route.base_url.rstrip("/") + RESPONSES_PATH
    return WireRequest("POST", url, headers, content=orjson.dumps(body), stream=request.stream)


def _skeleton(body: bytes) -> dict[str, Any]:
    parsed, _ = parse_skeleton(body, RESPONSE_KEYS)
    if not isinstance(parsed, dict):
        raise UpstreamBadResponse("the provider's answer is not a JSON object")
    return parsed


def responses_result(response: WireResponse, provider_request_id: str | None) -> ImageResult:
    """A 2xx ``Response``: kept raw; the completed image calls counted, both usages read."""
    try:
        parsed = _skeleton(response.body)
    except MalformedBody as exc:
        raise UpstreamBadResponse(
            f"the provider's response is not valid JSON: {exc}",
            provider_status=response.status,
            provider_request_id=provider_request_id,
        ) from exc
    calls = image_calls(parsed)
    return ImageResult(
        image_count=sum(1 for call in calls if call.get("status") == "completed"),
        usage=response_usage(parsed),
        provider_request_id=provider_request_id,
        raw_body=response.body,
        raw_dialect="openai-responses",
        created=parsed.get("created_at") if isinstance(parsed.get("created_at"), int) else None,
        failure_code=failure_of(calls),
    )


async def responses_events(frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
    """Each frame as it arrives; only the skeleton of the terminal and error frames is read.

    ``response.completed`` (and ``response.incomplete``) finish the turn, carrying the usage and
    the image calls; ``response.failed`` and ``error`` are errors.
    """
    async for frame in sse_frames(frames):
        event_name, data = frame_fields(frame)
        if event_name is not None and event_name not in _PARSED_EVENTS:
            partial = event_name.endswith(".partial_image")
            yield StreamEvent(kind="partial_image" if partial else "other", raw=frame)
            continue
        try:
            parsed = _skeleton(data)
        except MalformedBody as exc:
            raise UpstreamBadResponse(f"malformed stream event: {exc}") from exc
        kind = parsed.get("type", event_name)
        if kind in ("response.completed", "response.incomplete"):
            response = usage_object(parsed, "response")
            calls = image_calls(response)
            yield StreamEvent(
                kind="completed",
                raw=frame,
                data=parsed,
                usage=response_usage(response),
                image_count=sum(1 for call in calls if call.get("status") == "completed"),
                failure_code=failure_of(calls),
            )
        elif kind in ("error", "response.failed"):
            nested = usage_object(parsed, "response").get("error") if kind == "response.failed" else parsed.get("error")
            error: dict[str, Any] = dict(nested) if isinstance(nested, Mapping) else dict(parsed)
            yield StreamEvent(kind="error", raw=frame, data=parsed, error=error_from_body(error, status=None))
        else:
            yield StreamEvent(kind="other", raw=frame, data=parsed)
