"""The operator's knobs on provider bodies (docs/performance.md): pass-through off, its threshold,
and the cap on a body read whole. The official ``openai`` SDK is the client."""

from __future__ import annotations

import base64
import os
import threading
import uuid

import openai
import orjson
import pytest
from openai import OpenAI

from imagegate.domain.money import usd_string
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway
from tests.support.streaming_upstream import streaming_upstream

MIB = 1024 * 1024


def images_response(image_bytes: int) -> bytes:
    """An ``ImagesResponse``: the base64 first, ``usage`` last."""
    body = {
        "created": 1765000000,
        "data": [{"b64_json": base64.b64encode(os.urandom(image_bytes)).decode()}],
        "size": "1024x1024",
        "quality": "low",
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": 10},
            "output_tokens": 272,
            "output_tokens_details": {"image_tokens": 272, "text_tokens": 0},
            "total_tokens": 282,
        },
    }
    return orjson.dumps(body)


@pytest.fixture(scope="module")
def upstream():
    with streaming_upstream() as fake:
        yield fake


def _gateway(upstream, tmp_path, **settings):
    route = {"provider": "openai", "model": "gpt-image-2", "base_url": upstream.url, "api_key": "k", "timeout": 30}
    engine = migrated_sqlite_engine(tmp_path / "limits.db")
    return engine, running_gateway(engine, {"models": [{"name": "gpt-image-2", "routes": [route]}]}, **settings)


@pytest.fixture(scope="module")
def buffered(upstream, tmp_path_factory):
    """A gateway with pass-through off and bodies read whole capped at 1 MiB."""
    engine, gateway = _gateway(
        upstream, tmp_path_factory.mktemp("buffered"), passthrough=False, max_provider_body_bytes=MIB
    )
    with gateway as handle:
        yield handle
    engine.dispose()


@pytest.fixture
def fresh(upstream):
    upstream.release.set()
    upstream.release = threading.Event()
    upstream.declare_length, upstream.stall_after, upstream.break_after, upstream.calls = True, None, None, 0
    return upstream


def _client(handle) -> OpenAI:
    return OpenAI(base_url=handle.url + "/v1", api_key=handle.create_key(f"lim-{uuid.uuid4().hex[:8]}"), max_retries=0)


def test_pass_through_off_reads_a_large_body_whole_and_its_cost_is_a_header_again(buffered, fresh):
    fresh.body = images_response(600 * 1024)  # past the default 256 KiB threshold
    raw = _client(buffered).images.with_raw_response.generate(model="gpt-image-2", prompt="a fox", quality="low")
    [row] = buffered.ledger(raw.headers["x-request-id"])
    assert raw.http_response.content == fresh.body  # no cost object in the body
    assert row.status == "ok" and not row.cost_estimated
    assert raw.headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros) == usd_string(10 * 5 + 272 * 30)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_fails_as_upstream_bad_response_at_the_quote(buffered, fresh, declared):
    fresh.body = images_response(2 * MIB)
    fresh.declare_length = declared
    name = f"lim-cap-{uuid.uuid4().hex[:8]}"
    client = OpenAI(base_url=buffered.url + "/v1", api_key=buffered.create_key(name), max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="gpt-image-2", prompt="a fox", quality="low", size="1024x1024")
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_bad_response"
    rows = [row for row in buffered.ledger() if row.key_name == name]
    assert len(rows) == fresh.calls >= 1  # each attempt that reached the provider has its row
    for row in rows:
        assert (row.status, row.error_code, row.http_status) == ("error", "upstream_bad_response", 200)
        assert row.cost_estimated and row.cost_micros > 0  # a 200 not read: possibly billed, the quote


def test_the_threshold_setting_decides_which_bodies_stream(upstream, fresh, tmp_path):
    engine, gateway = _gateway(upstream, tmp_path, passthrough_min_bytes=MIB)
    with gateway as handle:
        client = _client(handle)
        fresh.body = images_response(600 * 1024)  # under the raised threshold: read whole
        small = client.images.with_raw_response.generate(model="gpt-image-2", prompt="a fox", quality="low")
        assert small.http_response.content == fresh.body and "x-imagegate-cost-usd" in small.headers
        fresh.body = images_response(2 * MIB)  # over it: streamed, its cost in the body
        large = client.images.with_raw_response.generate(model="gpt-image-2", prompt="a fox", quality="low")
        assert "x-imagegate-cost-usd" not in large.headers
        assert large.parse().model_extra["imagegate"] == {
            "cost_usd": usd_string(10 * 5 + 272 * 30),
            "cost_estimated": False,
        }
    engine.dispose()
