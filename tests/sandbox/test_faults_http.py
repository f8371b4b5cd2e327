"""Fault injection over real HTTP: prompt directives and the /_sandbox/ control endpoints."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from tests.sandbox.helpers import AUTH


def generate(client: httpx.Client, prompt: str, **fields: object) -> httpx.Response:
    body = {"model": "gpt-image-2", "prompt": prompt, "quality": "low", **fields}
    return client.post("/v1/images/generations", json=body)


def test_moderation_input_via_sdk(oai: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.images.generate(model="gpt-image-2", prompt="a fight [sandbox:moderation]")
    error = caught.value
    assert (error.code, error.type, error.param) == ("moderation_blocked", "image_generation_user_error", None)
    assert isinstance(error.body, dict)
    assert error.body["moderation_details"] == {"moderation_stage": "input", "categories": ["violence"]}
    assert error.request_id is not None and error.request_id in error.message
    assert error.body["message"].startswith("Your request was rejected by the safety system.")


def test_moderation_output_stage(client: httpx.Client) -> None:
    response = generate(client, "[sandbox:moderation=output]")
    assert response.status_code == 400
    assert response.json()["error"]["moderation_details"]["moderation_stage"] == "output"


def test_rate_limit_with_retry_headers(oai: OpenAI, client: httpx.Client) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        oai.images.generate(model="gpt-image-2", prompt="[sandbox:429=2.5]")
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    headers = caught.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("3", "2500")
    default = generate(client, "[sandbox:429]")
    assert (default.headers["retry-after"], default.headers["retry-after-ms"]) == ("1", "1000")


def test_quota(client: httpx.Client) -> None:
    response = generate(client, "[sandbox:quota]")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(client: httpx.Client, status: int) -> None:
    response = generate(client, f"[sandbox:{status}]")
    assert response.status_code == status
    assert response.json()["error"]["type"] == "server_error"
    assert response.headers["x-request-id"].startswith("req_")


def test_401_directive(oai: OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        oai.images.generate(model="gpt-image-2", prompt="[sandbox:401]")
    assert caught.value.code == "invalid_api_key"


def test_slow_combines_with_500(client: httpx.Client) -> None:
    started = time.monotonic()
    response = generate(client, "[sandbox:slow=0.3] [sandbox:500]")
    assert response.status_code == 500
    assert time.monotonic() - started >= 0.3


def test_slow_success(client: httpx.Client) -> None:
    started = time.monotonic()
    response = generate(client, "[sandbox:slow=0.2]")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


def test_hang_until_client_gives_up_without_blocking_others(sandbox_url: str, client: httpx.Client) -> None:
    outcome: dict[str, object] = {}

    def hang() -> None:
        started = time.monotonic()
        try:
            httpx.post(
                f"{sandbox_url}/v1/images/generations",
                headers=AUTH,
                timeout=0.4,
                json={"model": "gpt-image-2", "prompt": "[sandbox:hang]"},
            )
        except httpx.ReadTimeout:
            outcome["timeout_after"] = time.monotonic() - started

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.1)
    # While the other request hangs, this one is served normally.
    assert generate(client, "normal").status_code == 200
    thread.join()
    assert float(outcome["timeout_after"]) >= 0.4  # type: ignore[arg-type]
    hung = [r for r in client.get("/_sandbox/requests").json()["requests"] if r["faults"] == ["hang"]]
    assert len(hung) == 1 and hung[0]["status"] is None


def test_truncated_body(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message body"):
        generate(client, "[sandbox:truncated]")


def test_truncated_body_via_sdk_is_connection_error(oai: OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        oai.images.generate(model="gpt-image-2", prompt="[sandbox:truncated]", quality="low")


def test_malformed_body(client: httpx.Client) -> None:
    response = generate(client, "[sandbox:malformed]")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_reset_sends_no_response(client: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError) as caught:
        generate(client, "[sandbox:reset]")
    # A reset (ECONNRESET) or a close before any byte; never a status line.
    assert isinstance(caught.value, (httpx.ReadError, httpx.RemoteProtocolError))
    assert "received 0 bytes" not in str(caught.value)  # not the header-only fallback
    assert generate(client, "after the reset").status_code == 200


def test_unknown_directive_is_400(client: httpx.Client) -> None:
    response = generate(client, "[sandbox:teapot]")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompt"


def test_invalid_request_does_not_trigger_or_consume_faults(client: httpx.Client) -> None:
    client.post("/_sandbox/faults", json={"fault": "500"})
    assert generate(client, "[sandbox:503]", n=0).status_code == 400
    assert generate(client, "ok").status_code == 500  # the queued fault is still there


# --- control endpoint ------------------------------------------------------------------------


def test_control_fault_count_and_listing(client: httpx.Client) -> None:
    created = client.post("/_sandbox/faults", json={"fault": "500", "count": 2})
    assert created.status_code == 201
    assert client.get("/_sandbox/faults").json()["faults"][0]["remaining"] == 2
    assert [generate(client, "x").status_code for _ in range(3)] == [500, 500, 200]
    assert client.get("/_sandbox/faults").json() == {"faults": []}


def test_control_fault_model_and_path_filters(client: httpx.Client) -> None:
    client.post("/_sandbox/faults", json={"fault": "503", "model": "gpt-image-1.5"})
    client.post("/_sandbox/faults", json={"fault": "429=0.5", "path": "/v1/images/edits"})
    assert generate(client, "x").status_code == 200  # gpt-image-2 on generations: no match
    assert generate(client, "x", model="gpt-image-1.5").status_code == 503
    pending = client.get("/_sandbox/faults").json()["faults"]
    assert [(f["fault"], f["path"]) for f in pending] == [("429=0.5", "/v1/images/edits")]


def test_control_fault_list_body_and_clear(client: httpx.Client) -> None:
    response = client.post("/_sandbox/faults", json=[{"fault": "slow=0.1"}, {"fault": "moderation=output"}])
    assert [f["fault"] for f in response.json()["faults"]] == ["slow=0.1", "moderation=output"]
    assert client.delete("/_sandbox/faults").json() == {"cleared": 2}
    assert generate(client, "x").status_code == 200


def test_control_fault_combines_with_prompt_directive(client: httpx.Client) -> None:
    client.post("/_sandbox/faults", json={"fault": "502"})
    response = generate(client, "[sandbox:500]")
    assert response.status_code == 502  # the queued fault comes first


@pytest.mark.parametrize(
    "body",
    [
        {"fault": "bogus"},
        {"fault": "500", "count": 0},
        {"fault": 500},
        {"count": 1},
        [{"fault": "500"}, {"x": 1}],
        {"fault": "500", "model": 3},
    ],
)
def test_control_fault_rejects_bad_bodies(client: httpx.Client, body: object) -> None:
    response = client.post("/_sandbox/faults", json=body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert client.get("/_sandbox/faults").json() == {"faults": []}  # nothing half-queued


def test_control_needs_no_auth(sandbox_url: str) -> None:
    assert httpx.get(f"{sandbox_url}/_sandbox/faults").status_code == 200


def test_queued_reset_and_hang(client: httpx.Client) -> None:
    client.post("/_sandbox/faults", json={"fault": "reset"})
    with pytest.raises(httpx.TransportError):
        generate(client, "x")
    client.post("/_sandbox/faults", json={"fault": "hang"})
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"}, timeout=0.3)


def test_request_log_counts_and_reset(client: httpx.Client) -> None:
    generate(client, "zebrafish")
    generate(client, "two", n=0)
    client.post("/v1/images/generations", json={"model": "gpt-image-2", "prompt": "p"}, headers={"Authorization": ""})
    log = client.get("/_sandbox/requests").json()
    assert log["count"] == 3
    assert [(r["method"], r["path"], r["model"], r["status"]) for r in log["requests"]] == [
        ("POST", "/v1/images/generations", "gpt-image-2", 200),
        ("POST", "/v1/images/generations", "gpt-image-2", 400),
        ("POST", "/v1/images/generations", None, 401),
    ]
    assert all(isinstance(r["time"], float) and r["request_id"].startswith("req_") for r in log["requests"])
    assert "b64_json" not in str(log) and "zebrafish" not in str(log)  # no prompts, no image bytes
    assert client.get("/_sandbox/requests", params={"model": "gpt-image-1.5"}).json()["count"] == 0
    assert client.delete("/_sandbox/requests").json()["count"] == 0
    assert client.get("/_sandbox/requests").json() == {"count": 0, "requests": []}
    # Control, health and unknown routes are not provider calls.
    client.get("/healthz")
    client.get("/_sandbox/faults")
    assert client.get("/_sandbox/requests").json()["count"] == 0
