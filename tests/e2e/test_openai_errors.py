"""Bad input and provider failures, as the official ``openai`` SDK sees them through the gateway."""

from __future__ import annotations

import io
import random
import uuid

import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image


@pytest.fixture
def key(gateway) -> str:
    return gateway.create_key(f"err-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def client(gateway, key) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def _png(size=(1024, 1024)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "no-such-model"}, "model"),
        ({"n": 11}, "n"),
        ({"n": 0}, "n"),
        ({"size": "1000x1000"}, "size"),
        ({"size": "4096x4096"}, "size"),
        ({"background": "transparent"}, "background"),
        ({"quality": "ultra"}, "quality"),
        ({"partial_images": 2}, "partial_images"),
        ({"output_compression": 50}, "output_compression"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter_and_reaches_no_provider(
    client, gateway, sandbox_control, kwargs, param
):
    sandbox_control.delete("/_sandbox/requests")
    arguments = {"model": "gpt-image-2", "prompt": "x", **kwargs}
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(**arguments)
    assert info.value.status_code == 400
    assert info.value.body["param"] == param
    assert info.value.body["type"] == "invalid_request_error"
    assert info.value.response.headers["x-request-id"].startswith("req_")
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


def test_transparent_background_is_fine_where_the_model_supports_it(client):
    response = client.images.generate(model="gpt-image-1.5", prompt="x", background="transparent", output_format="png")
    assert response.background == "transparent"


def test_wrong_type_names_the_parameter(gateway, key):
    response = httpx.post(
        gateway.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-image-2", "prompt": "x", "n": "2"},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "n"
    missing = httpx.post(
        gateway.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-image-2"},
    )
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "prompt"


def test_malformed_json_and_multipart(gateway, key):
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    response = httpx.post(gateway.url + "/v1/images/generations", headers=headers, content=b'{"model": "gpt-image-2", ')
    assert response.status_code == 400 and "JSON" in response.json()["error"]["message"]
    broken = httpx.post(
        gateway.url + "/v1/images/edits",
        headers={"authorization": f"Bearer {key}", "content-type": "multipart/form-data; boundary=zzz"},
        content=b'--zzz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi',
    )
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"


def test_edit_without_image_and_with_too_many_images(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(model="gpt-image-2", prompt="x", image=[])
    assert info.value.body["param"] == "image"
    too_many = [(f"{index}.png", _png((64, 64)), "image/png") for index in range(17)]
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(model="gpt-image-2", prompt="x", image=too_many)
    assert info.value.body["param"] == "image"


def test_missing_wrong_and_revoked_keys_are_401(gateway):
    for api_key in ("", "ig-not-a-real-key"):
        response = httpx.post(
            gateway.url + "/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "x"},
            headers={} if api_key == "" else {"authorization": f"Bearer {api_key}"},
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    name = f"revoked-{uuid.uuid4().hex[:8]}"
    secret = gateway.create_key(name)
    from datetime import UTC, datetime

    from imagegate.store.keys import SqlKeyStore

    assert SqlKeyStore(gateway.engine).revoke_key(name, datetime.now(UTC))
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=gateway.url + "/v1", api_key=secret, max_retries=0).images.generate(
            model="gpt-image-2", prompt="x"
        )


def test_key_not_allowed_the_model_is_403(gateway):
    limited = OpenAI(
        base_url=gateway.url + "/v1",
        api_key=gateway.create_key(f"only2-{uuid.uuid4().hex[:8]}", ["gpt-image-2"]),
        max_retries=0,
    )
    with pytest.raises(openai.PermissionDeniedError) as info:
        limited.images.generate(model="gpt-image-1.5", prompt="x")
    assert info.value.body["param"] == "model"


def test_moderation_block_is_relayed_and_recorded(client, gateway):
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="[sandbox:moderation=output] x")
    body = info.value.body
    assert (body["code"], body["type"]) == ("moderation_blocked", "image_generation_user_error")
    assert body["moderation_details"]["moderation_stage"] == "output"
    [row] = gateway.ledger(info.value.response.headers["x-request-id"])
    assert (row.status, row.error_code, row.http_status) == ("error", "moderation_blocked", 400)
    assert row.provider_request_id is not None


def test_rate_limit_is_retried_after_the_providers_hint_then_relayed(client, gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(model="gpt-image-2", prompt="[sandbox:429=0.3] x")
    assert info.value.response.headers["retry-after-ms"] == "300"
    assert info.value.body["code"] == "rate_limit_exceeded"
    rows = gateway.ledger(info.value.response.headers["x-request-id"])
    assert [(row.attempt, row.error_code, row.http_status, row.cost_micros) for row in rows] == [
        (1, "rate_limited", 429, 0),
        (2, "rate_limited", 429, 0),
    ]
    # The second call waited for the provider's hint.
    assert (rows[1].created_at - rows[0].created_at).total_seconds() >= 0.3
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 2


@pytest.mark.parametrize(
    ("directive", "status", "code", "calls"),
    [
        ("[sandbox:500]", 502, "upstream_unavailable", 2),
        ("[sandbox:503]", 502, "upstream_unavailable", 2),
        ("[sandbox:malformed]", 502, "upstream_bad_response", 2),
        ("[sandbox:truncated]", 502, "upstream_bad_response", 2),
        ("[sandbox:reset]", 502, "upstream_unavailable", 2),
        ("[sandbox:quota]", 429, "insufficient_quota", 1),
        ("[sandbox:moderation]", 400, "moderation_blocked", 1),
    ],
)
def test_provider_failures_are_retried_only_when_retryable_and_every_call_is_recorded(
    client, gateway, sandbox_control, directive, status, code, calls
):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="gpt-image-2", prompt=f"{directive} x")
    assert info.value.status_code == status
    assert info.value.body["code"] == code
    rows = gateway.ledger(info.value.response.headers["x-request-id"])
    assert [row.attempt for row in rows] == list(range(1, calls + 1))
    assert all(row.status == "error" for row in rows)
    if code == "upstream_bad_response":
        # A 200 whose body broke off or could not be read: possibly billed, the quote, flagged estimated.
        assert all(row.http_status == 200 and row.cost_micros > 0 and row.cost_estimated for row in rows)
    else:
        assert all(row.cost_micros == 0 and not row.cost_estimated for row in rows)
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == calls


def test_provider_timeout_is_a_504(sandbox_url, tmp_path):
    from tests.store.fixtures import migrated_sqlite_engine
    from tests.support.gateway import running_gateway, sandbox_models_config

    engine = migrated_sqlite_engine(tmp_path / "t.db")
    with running_gateway(engine, sandbox_models_config(sandbox_url, ["gpt-image-2"], timeout=0.5)) as handle:
        client = OpenAI(base_url=handle.url + "/v1", api_key=handle.create_key("t"), max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            client.images.generate(model="gpt-image-2", prompt="[sandbox:hang] x")
        assert info.value.status_code == 504 and info.value.body["code"] == "timeout"
        rows = handle.ledger(info.value.response.headers["x-request-id"])
        assert [row.error_code for row in rows] == ["timeout", "timeout"]
        assert all(400 <= row.latency_ms < 5000 for row in rows)
    engine.dispose()


def test_provider_credentials_never_reach_the_client(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="gpt-image-2", prompt="[sandbox:401] x")
    assert info.value.status_code == 502
    assert "sk-route-secret-4d2f" not in info.value.response.text


def test_body_limit(sandbox_url, tmp_path):
    from tests.store.fixtures import migrated_sqlite_engine
    from tests.support.gateway import running_gateway, sandbox_models_config

    engine = migrated_sqlite_engine(tmp_path / "l.db")
    document = {
        **sandbox_models_config(sandbox_url, ["gpt-image-2"]),
        "limits": {"max_body_bytes": 200_000, "max_image_bytes": 50_000},
    }
    with running_gateway(engine, document) as handle:
        client = OpenAI(base_url=handle.url + "/v1", api_key=handle.create_key("l"), max_retries=0)
        noise = Image.frombytes("RGB", (256, 256), random.Random(7).randbytes(256 * 256 * 3))
        buffer = io.BytesIO()
        noise.save(buffer, "PNG")
        assert 50_000 < len(buffer.getvalue()) < 200_000
        with pytest.raises(openai.BadRequestError) as info:
            client.images.edit(model="gpt-image-2", prompt="x", image=("big.png", buffer.getvalue(), "image/png"))
        assert info.value.body["param"] == "image"
        with pytest.raises(openai.APIStatusError) as too_large:
            client.images.generate(model="gpt-image-2", prompt="x" * 300_000)
        assert too_large.value.status_code == 413 and "limit" in too_large.value.body["message"]
    engine.dispose()


def test_unknown_paths_and_methods_answer_in_openai_shape_with_a_request_id(gateway):
    missing = httpx.get(gateway.url + "/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert missing.headers["x-request-id"].startswith("req_")
    wrong = httpx.get(gateway.url + "/v1/images/generations")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert httpx.get(gateway.url + "/healthz").headers["x-request-id"].startswith("req_")
