"""Property: whatever JSON a provider answers with, every adapter gives a result or a domain error.

Arbitrary JSON (and JSON shaped like each provider's answer, with any value in any field) is fed
to every registered adapter's ``from_wire`` (raw kept and translated), ``error_from_wire`` and
stream event parsing; the only exceptions allowed out are ``ProviderError``s.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imagegate.domain.errors import ProviderError
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.providers.base import ProviderAdapter, RouteTarget, WireResponse
from imagegate.providers.registry import builtin_registry

REGISTRY = builtin_registry()
ADAPTERS = [REGISTRY.get(name) for name in REGISTRY.names()]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False), st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# Keys the adapters look for, so the shapes reach deep into their parsers, with any value.
KNOWN_KEYS = [
    "data", "usage", "input_tokens_details", "output_tokens_details", "input_tokens", "output_tokens",
    "b64_json", "url", "type", "error", "code", "message", "status", "details", "candidates", "content",
    "parts", "inlineData", "data", "mimeType", "text", "finishReason", "usageMetadata", "promptTokenCount",
    "candidatesTokenCount", "candidatesTokensDetails", "promptTokensDetails", "modality", "tokenCount",
    "responseId", "promptFeedback", "blockReason", "predictions", "bytesBase64Encoded", "raiFilteredReason",
    "image_tokens", "text_tokens", "partial_image_b64", "@type", "retryDelay", "metadata", "reason",
]  # fmt: skip
shaped = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(KNOWN_KEYS), children, max_size=5)
    ),
    max_leaves=25,
)
bodies = st.one_of(
    json_values.map(orjson.dumps),
    shaped.map(orjson.dumps),
    st.binary(max_size=64),
)


def _route(adapter: ProviderAdapter) -> RouteTarget:
    return RouteTarget(
        name=f"a/{adapter.name}/m", alias="a", provider=adapter.name, model="m", base_url="http://x", api_key="k"
    )


def _request(adapter: ProviderAdapter) -> ImageRequest:
    return ImageRequest(operation="generate", model="m", prompt="p", dialect=adapter.dialect)


async def _drain(adapter: ProviderAdapter, frames: list[bytes]) -> None:
    async def chunks():
        for frame in frames:
            yield frame

    async for _event in adapter.stream_events(chunks()):
        pass


def _only_domain_errors(call) -> None:
    with contextlib.suppress(ProviderError):
        call()


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda adapter: adapter.name)
@SETTINGS
@given(body=bodies, keep_raw=st.booleans())
@example(body=b'{"data":[1]}', keep_raw=False)
@example(body=b'{"data":[{"b64_json":"aGk="}],"usage":{"input_tokens_details":"x"}}', keep_raw=True)
@example(body=b'{"candidates":[{"content":{"parts":[1]}}],"usageMetadata":{"promptTokensDetails":"x"}}', keep_raw=True)
@example(body=b'{"predictions":[1]}', keep_raw=False)
def test_from_wire_gives_a_result_or_a_domain_error(adapter, body, keep_raw):
    response = WireResponse(status=200, headers={"x-request-id": "r"}, body=body)
    try:
        result = adapter.from_wire(response, _request(adapter), _route(adapter), keep_raw=keep_raw)
    except ProviderError:
        return
    assert isinstance(result, ImageResult)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda adapter: adapter.name)
@SETTINGS
@given(body=bodies, status=st.sampled_from([400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504]))
def test_error_from_wire_always_gives_a_domain_error(adapter, body, status):
    response = WireResponse(status=status, headers={"retry-after": "x"}, body=body)
    assert isinstance(adapter.error_from_wire(response), ProviderError)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda adapter: adapter.name)
@SETTINGS
@example(events=[("error", b"null")])
@example(
    events=[("image_generation.completed", b'{"type":"image_generation.completed","usage":{"input_tokens_details":1}}')]
)
@given(events=st.lists(st.tuples(st.sampled_from([None, "image_generation.completed", "error"]), bodies), max_size=4))
def test_stream_events_give_events_or_a_domain_error(adapter, events):
    frames = []
    for name, data in events:
        head = b"" if name is None else b"event: " + name.encode() + b"\n"
        frames.append(head + b"data: " + data.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n\n")
    _only_domain_errors(lambda: asyncio.run(_drain(adapter, frames)))


# Keys the submit-and-poll hosts' documents carry, so the shapes reach their status parsers.
TASK_KEYS = [
    "id", "polling_url", "status", "result", "sample", "cost", "input_mp", "output_mp", "request_id",
    "status_url", "response_url", "cancel_url", "images", "url", "has_nsfw_concepts", "error", "error_type",
    "urls", "get", "cancel", "output", "metrics", "detail",
]  # fmt: skip
task_bodies = st.one_of(
    bodies,
    st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(TASK_KEYS), children, max_size=5)
        ),
        max_leaves=25,
    ).map(orjson.dumps),
)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda adapter: adapter.name)
@SETTINGS
@given(body=task_bodies)
def test_task_documents_give_a_task_a_state_or_a_domain_error(adapter, body):
    response = WireResponse(status=200, headers={}, body=body)
    try:
        task = adapter.accepted_task(response, _route(adapter))
    except ProviderError:
        return
    if task is not None:
        _only_domain_errors(lambda: adapter.poll_state(response, task))
