"""``POST /v1/images/feedback`` on a real gateway: ownership, idempotence, validation."""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest
from openai import OpenAI

from imagegate.store.feedback import SqlFeedbackStore


def _generate(gateway, key: str, n: int = 2) -> str:
    client = OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    raw = client.images.with_raw_response.generate(
        model="gpt-image-2", prompt="x", size="1024x1024", quality="low", n=n
    )
    return raw.headers["x-request-id"]


def _feedback(gateway, key: str | None, body: dict) -> httpx.Response:
    headers = {} if key is None else {"authorization": f"Bearer {key}"}
    return httpx.post(gateway.url + "/v1/images/feedback", json=body, headers=headers)


@pytest.fixture
def key(gateway) -> str:
    return gateway.create_key(f"judge-{uuid.uuid4().hex[:8]}")


def test_verdicts_right_after_the_response_and_last_write_wins(gateway, key):
    request_id = _generate(gateway, key)
    # No waiting for the ledger writer: the service waits for it when the row is not there yet.
    first = _feedback(gateway, key, {"request_id": request_id, "image_index": 1, "accepted": False})
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] is False and first.json()["object"] == "image.feedback"
    assert _feedback(gateway, key, {"request_id": request_id, "accepted": True}).status_code == 200  # index 0
    again = _feedback(gateway, key, {"request_id": request_id, "image_index": 1, "accepted": True})
    assert again.status_code == 200
    assert SqlFeedbackStore(gateway.engine).current_feedback(request_id) == {0: True, 1: True}


def test_only_the_key_that_made_the_request_may_judge_it(gateway, key):
    request_id = _generate(gateway, key, n=1)
    other = gateway.create_key(f"other-{uuid.uuid4().hex[:8]}")
    response = _feedback(gateway, other, {"request_id": request_id, "image_index": 0, "accepted": True})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "request_not_found" and response.headers["x-request-id"]
    assert SqlFeedbackStore(gateway.engine).current_feedback(request_id) == {}
    unknown = _feedback(gateway, key, {"request_id": "req_" + "0" * 32, "accepted": True})
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "request_id"
    assert _feedback(gateway, None, {"request_id": request_id, "accepted": True}).status_code == 401


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"image_index": 0, "accepted": True}, "request_id"),
        ({"request_id": "r", "image_index": -1, "accepted": True}, "image_index"),
        ({"request_id": "r", "image_index": "0", "accepted": True}, "image_index"),
        ({"request_id": "r", "accepted": "yes"}, "accepted"),
        ({"request_id": "r", "accepted": True, "score": 5}, "score"),
    ],
)
def test_malformed_bodies_name_the_parameter(gateway, key, body, param):
    response = _feedback(gateway, key, body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_index_past_the_delivered_images(gateway, key):
    request_id = _generate(gateway, key, n=1)
    response = _feedback(gateway, key, {"request_id": request_id, "image_index": 1, "accepted": True})
    assert response.status_code == 400
    assert (
        response.json()["error"]["param"] == "image_index"
        and "delivered 1 image" in response.json()["error"]["message"]
    )
    client = OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as blocked:
        client.images.generate(model="gpt-image-2", prompt="[sandbox:moderation]")
    blocked_id = blocked.value.response.headers["x-request-id"]
    assert [row.error_code for row in gateway.ledger(blocked_id)] == ["moderation_blocked"]
    response = _feedback(gateway, key, {"request_id": blocked_id, "accepted": False})
    assert response.status_code == 400 and "delivered 0 image" in response.json()["error"]["message"]


def test_not_json(gateway, key):
    response = httpx.post(
        gateway.url + "/v1/images/feedback", content=b"accepted=1", headers={"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 400
