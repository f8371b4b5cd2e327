"""OpenAI Images bodies from an OpenAI route stream through the gateway (docs/performance.md).

A body over the read-whole limit goes to the client as it arrives, byte for byte, with the
gateway's ``imagegate`` cost object added before its closing brace; every way it can end is
recorded in the ledger. The official ``openai`` SDK is the client.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
import uuid
from decimal import Decimal

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from imagegate.domain.money import usd_string
from imagegate.service.images import PASSTHROUGH_MIN_BYTES
from imagegate.store.ledger import SqlLedgerStore
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway
from tests.support.streaming_upstream import streaming_upstream

USAGE = {
    "input_tokens": 17,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 17},
    "output_tokens": 1056,
    "output_tokens_details": {"image_tokens": 1056, "text_tokens": 0},
    "total_tokens": 1073,
}


def images_response(image_bytes: int) -> bytes:
    """An ``ImagesResponse`` as OpenAI lays it out: the base64 first, ``usage`` last."""
    b64 = base64.b64encode(os.urandom(image_bytes)).decode()
    body = {
        "created": 1765000000,
        "background": "opaque",
        "data": [{"b64_json": b64}],
        "output_format": "png",
        "quality": "low",
        "size": "1024x1024",
        "usage": USAGE,
    }
    return orjson.dumps(body)


def token_price_micros(usage: dict) -> int:
    """gpt-image-2: $5/1M text in, $8/1M image in, $30/1M image out (the catalog's published rates)."""
    details = usage["input_tokens_details"]
    return int(Decimal(details["text_tokens"]) * 5 + Decimal(details["image_tokens"]) * 8 + usage["output_tokens"] * 30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One gateway in front of one streaming fake OpenAI for the module."""
    with streaming_upstream() as upstream:
        route = {"provider": "openai", "model": "gpt-image-2", "base_url": upstream.url, "api_key": "k", "timeout": 30}
        document = {"models": [{"name": "gpt-image-2", "routes": [route]}]}
        engine = migrated_sqlite_engine(tmp_path_factory.mktemp("passthrough") / "passthrough.db")
        with running_gateway(engine, document) as handle:
            yield handle, upstream
        engine.dispose()


@pytest.fixture
def passthrough(served):
    """The module's gateway, its fake OpenAI reset to a plain answer with no calls counted."""
    handle, upstream = served
    upstream.release.set()  # a stall left by an earlier test ends
    upstream.release = threading.Event()
    upstream.declare_length, upstream.stall_after, upstream.break_after, upstream.calls = True, None, None, 0
    return handle, upstream


def _client(handle) -> OpenAI:
    return OpenAI(base_url=handle.url + "/v1", api_key=handle.create_key(f"pt-{uuid.uuid4().hex[:8]}"), max_retries=0)


def _rows_when_recorded(handle, request_id: str) -> list:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = handle.ledger(request_id)
        if rows:
            return rows
        time.sleep(0.02)
    raise AssertionError(f"no ledger row for {request_id}")


def test_a_large_body_passes_through_unchanged_with_its_exact_cost_at_the_end(passthrough):
    handle, upstream = passthrough
    upstream.body = images_response(2 * 1024 * 1024)
    raw = _client(handle).images.with_raw_response.generate(
        model="gpt-image-2", prompt="a lighthouse", size="1024x1024", quality="low"
    )
    [row] = handle.ledger(raw.headers["x-request-id"])
    assert (row.status, row.images, row.http_status, row.usage) == ("ok", 1, 200, USAGE)
    assert row.cost_micros == token_price_micros(USAGE) and not row.cost_estimated
    cost = orjson.dumps({"cost_usd": usd_string(row.cost_micros), "cost_estimated": False})
    assert raw.http_response.content == upstream.body[:-1] + b',"imagegate":' + cost + b"}"
    response = raw.parse()
    assert response.data[0].b64_json == orjson.loads(upstream.body)["data"][0]["b64_json"]
    assert response.usage.output_tokens == USAGE["output_tokens"]
    assert response.model_extra["imagegate"] == {"cost_usd": usd_string(row.cost_micros), "cost_estimated": False}
    assert "x-imagegate-cost-usd" not in raw.headers and raw.headers["x-imagegate-route"] == row.route
    assert upstream.calls == 1


def test_a_body_of_unknown_length_passes_through_too(passthrough):
    handle, upstream = passthrough
    upstream.body = images_response(100_000)
    upstream.declare_length = False  # chunked: the gateway cannot know it is small
    raw = _client(handle).images.with_raw_response.generate(model="gpt-image-2", prompt="a fox", quality="low")
    [row] = handle.ledger(raw.headers["x-request-id"])
    assert raw.parse().model_extra["imagegate"]["cost_usd"] == usd_string(row.cost_micros)
    assert row.cost_micros == token_price_micros(USAGE)


def test_a_small_body_is_read_whole_and_its_cost_is_a_header(passthrough):
    handle, upstream = passthrough
    upstream.body = images_response(PASSTHROUGH_MIN_BYTES // 2)
    raw = _client(handle).images.with_raw_response.generate(model="gpt-image-2", prompt="a fox", quality="low")
    [row] = handle.ledger(raw.headers["x-request-id"])
    assert raw.http_response.content == upstream.body
    assert raw.headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros) == usd_string(token_price_micros(USAGE))


def _leave_mid_body(handle, upstream) -> str:
    """A generation whose client reads 256 KiB of a 2 MiB body and leaves while the provider
    stalls at 512 KiB; its request id."""
    upstream.body = images_response(2 * 1024 * 1024)
    upstream.stall_after = 512 * 1024
    key = handle.create_key(f"pt-{uuid.uuid4().hex[:8]}")
    body = {"model": "gpt-image-2", "prompt": "a fox", "quality": "low", "size": "1024x1024"}
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", handle.url + "/v1/images/generations", json=body, headers={"authorization": f"Bearer {key}"}
        ) as answer,
    ):
        request_id = answer.headers["x-request-id"]
        received = 0
        for piece in answer.iter_raw():
            received += len(piece)
            if received >= 256 * 1024:
                break  # leaving the block closes the connection mid-body
    return request_id


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_the_client_leaving_mid_body_is_recorded_at_the_exact_cost_once_the_body_is_drained(passthrough):
    handle, upstream = passthrough
    request_id = _leave_mid_body(handle, upstream)
    drains = handle.runtime.gateway.images.drains
    _until(lambda: drains.running == 1, "the drain to start")
    assert handle.ledger(request_id) == []  # the usage is still to come: nothing recorded yet
    upstream.release.set()
    [row] = _rows_when_recorded(handle, request_id)
    assert drains.running == 0
    assert (row.status, row.error_code, row.client_disconnected, row.http_status) == (
        "error",
        "client_disconnected",
        True,
        200,
    )
    # The provider did the work; its usage, read from the rest of the body, prices it exactly.
    assert (row.cost_micros, row.cost_estimated, row.usage) == (token_price_micros(USAGE), False, USAGE)
    assert row.provider_request_id == "req_streaming_upstream"


@pytest.fixture
def own_gateway(tmp_path, request):
    """A gateway of its own (stopped by the test or at teardown) whose provider body cap is 1 MiB;
    its route's timeout is 30 s unless the test passes another (indirect parametrization)."""
    timeout = getattr(request, "param", 30)
    with streaming_upstream() as upstream:
        route = {
            "provider": "openai",
            "model": "gpt-image-2",
            "base_url": upstream.url,
            "api_key": "k",
            "timeout": timeout,
        }
        document = {"models": [{"name": "gpt-image-2", "routes": [route]}]}
        engine = migrated_sqlite_engine(tmp_path / "drain.db")
        stack = contextlib.ExitStack()
        handle = stack.enter_context(running_gateway(engine, document, max_provider_body_bytes=1024 * 1024))
        with stack:
            yield handle, upstream, stack
        engine.dispose()


@pytest.mark.parametrize("declared", [True, False], ids=["declared-over-the-cap", "counted-past-the-cap"])
def test_a_drain_past_the_provider_body_cap_is_recorded_at_the_quote(own_gateway, declared):
    handle, upstream, _ = own_gateway
    upstream.declare_length = declared  # a declared length over the cap is not drained at all
    request_id = _leave_mid_body(handle, upstream)
    upstream.release.set()
    [row] = _rows_when_recorded(handle, request_id)
    assert (row.error_code, row.client_disconnected, row.http_status) == ("client_disconnected", True, 200)
    # The quote (the usage was never read), not the usage's price.
    assert row.cost_estimated and 0 < row.cost_micros != token_price_micros(USAGE)
    assert row.usage == {}


@pytest.mark.parametrize("own_gateway", [1.5], indirect=True)
def test_a_drain_past_the_route_timeout_is_recorded_at_the_quote(own_gateway):
    handle, upstream, _ = own_gateway
    upstream.declare_length = False
    request_id = _leave_mid_body(handle, upstream)  # the provider stalls and is never released
    [row] = _rows_when_recorded(handle, request_id)
    assert (row.error_code, row.client_disconnected, row.http_status) == ("client_disconnected", True, 200)
    assert row.cost_estimated and 0 < row.cost_micros != token_price_micros(USAGE)
    assert handle.runtime.gateway.images.drains.running == 0


def test_a_drain_cut_short_by_the_server_stopping_is_recorded_at_the_quote(own_gateway):
    handle, upstream, stack = own_gateway
    upstream.declare_length = False  # a declared 2 MiB, over the 1 MiB cap, would not be drained at all
    request_id = _leave_mid_body(handle, upstream)
    _until(lambda: handle.runtime.gateway.images.drains.running == 1, "the drain to start")
    stack.close()  # the server stops while the provider stalls mid-body
    [row] = SqlLedgerStore(handle.engine).query_entries(request_id=request_id, limit=10)
    assert (row.error_code, row.client_disconnected, row.http_status) == ("client_disconnected", True, 200)
    assert row.cost_estimated and 0 < row.cost_micros != token_price_micros(USAGE)
    assert handle.runtime.gateway.images.drains.running == 0


def test_a_body_breaking_off_is_recorded_and_the_client_sees_a_transport_error(passthrough):
    handle, upstream = passthrough
    upstream.body = images_response(2 * 1024 * 1024)
    upstream.break_after = 1024 * 1024
    name = f"pt-break-{uuid.uuid4().hex[:8]}"
    client = OpenAI(base_url=handle.url + "/v1", api_key=handle.create_key(name), max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.images.generate(model="gpt-image-2", prompt="a fox", quality="low", size="1024x1024")
    [row] = [row for row in handle.ledger() if row.key_name == name]
    assert (row.status, row.error_code, row.http_status) == ("error", "upstream_bad_response", 200)
    assert row.cost_estimated and row.cost_micros > 0  # a 200 that broke off: possibly billed, the quote
    assert upstream.calls == 1  # after the first byte there is no retry


def test_an_idempotent_request_is_read_whole_and_replayed(passthrough):
    handle, upstream = passthrough
    upstream.body = images_response(1024 * 1024)
    key = handle.create_key(f"pt-{uuid.uuid4().hex[:8]}")
    headers = {"authorization": f"Bearer {key}", "idempotency-key": uuid.uuid4().hex}
    body = {"model": "gpt-image-2", "prompt": "a fox", "quality": "low", "size": "1024x1024"}
    with httpx.Client(timeout=30) as client:
        first = client.post(handle.url + "/v1/images/generations", json=body, headers=headers)
        again = client.post(handle.url + "/v1/images/generations", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content == upstream.body  # kept whole: no cost object in the body
    assert again.headers["idempotent-replayed"] == "true"
    [row] = handle.ledger(first.headers["x-request-id"])
    assert first.headers["x-imagegate-cost-usd"] == again.headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros)
    assert upstream.calls == 1
