"""The HTTP edge on a real gateway: bodies refused by declared length before reading, streamed bodies
cut off at the limit (413 in the client's dialect), the in-flight budget (503 + Retry-After), and
multipart bodies parsed as they arrive."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway, sandbox_models_config, wait_for_calls_in_flight
from tests.support.raw_http import lazy_chunks, post_streaming

IMAGE_LIMIT = 1_000_000
HUGE = 200 * 1024 * 1024
# What may still be in flight after the server stops reading: the socket buffers on both sides of
# the loopback (a few MB) plus one read. Far below the 200 MB offered.
READ_BOUND = 24 * 1024 * 1024

OPENAI_PATHS = ["/v1/images/generations", "/v1/images/edits"]
SMALL_PATHS = ["/api/estimate", "/v1/images/feedback", "/admin/keys", "/admin/routes/x/weight"]
GOOGLE_PATHS = ["/v1beta/models/gpt-image-2:generateContent", "/v1/models/gpt-image-2:predict"]


@pytest.fixture(scope="module")
def small_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """A gateway whose image calls may carry 1 MB, at most 2 of them (1.5 MB of bodies) in flight at once."""
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("edge") / "imagegate.db")
    document = sandbox_models_config(sandbox_url, ["gpt-image-2"])
    document["limits"] = {"max_body_bytes": IMAGE_LIMIT}
    with running_gateway(
        engine,
        document,
        master_key="sk-master-edge",
        max_inflight_requests=2,
        max_inflight_body_bytes=1_500_000,
    ) as handle:
        yield handle
    engine.dispose()


@pytest.fixture(scope="module")
def key(small_gateway: GatewayHandle) -> str:
    return small_gateway.create_key(f"edge-{uuid.uuid4().hex[:8]}")


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


def _assert_openai_413(answer, *limits: int) -> None:
    assert answer.status == 413, answer.body[:300]
    error = answer.json()["error"]
    assert error["code"] == "payload_too_large" and error["type"] == "invalid_request_error"
    assert any(str(limit) in error["message"] for limit in limits)
    assert answer.headers["connection"] == "close"
    assert answer.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("path", OPENAI_PATHS + SMALL_PATHS)
def test_a_declared_length_over_the_limit_is_refused_before_any_body_byte(small_gateway, key, path):
    headers = {**_auth(key), "content-length": str(HUGE)}
    answer = post_streaming(small_gateway.url, path, headers, iter(()), chunked=False)
    limit = IMAGE_LIMIT if path in OPENAI_PATHS else 64 * 1024
    _assert_openai_413(answer, limit)
    assert answer.body_bytes_sent == 0


@pytest.mark.parametrize("path", ["/v1/images/generations", "/api/estimate", "/v1/images/feedback", "/admin/keys"])
def test_a_huge_chunked_body_is_cut_off_at_the_limit(small_gateway, key, path):
    token = "sk-master-edge" if path.startswith("/admin/") else key
    answer = post_streaming(small_gateway.url, path, _auth(token), lazy_chunks(HUGE))
    # Feedback bodies have a tighter limit of their own (4 KiB): whichever check sees the bytes first answers.
    limits = (IMAGE_LIMIT,) if path in OPENAI_PATHS else (4096, 64 * 1024) if "feedback" in path else (64 * 1024,)
    _assert_openai_413(answer, *limits)
    assert answer.body_bytes_sent < READ_BOUND


def test_a_huge_chunked_multipart_edit_is_cut_off_at_the_limit(small_gateway, key):
    boundary = "edgeboundary"
    head = (
        f'--{boundary}\r\ncontent-disposition: form-data; name="prompt"\r\n\r\nx\r\n'
        f'--{boundary}\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\n'
        "content-type: image/png\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from lazy_chunks(HUGE)

    headers = {"authorization": f"Bearer {key}", "content-type": f"multipart/form-data; boundary={boundary}"}
    answer = post_streaming(small_gateway.url, "/v1/images/edits", headers, body())
    _assert_openai_413(answer, IMAGE_LIMIT)
    assert answer.body_bytes_sent < READ_BOUND


@pytest.mark.parametrize("path", GOOGLE_PATHS)
def test_google_dialect_bodies_over_the_limit_get_413_in_google_shape(small_gateway, key, path):
    headers = {"x-goog-api-key": key, "content-type": "application/json"}
    declared = post_streaming(
        small_gateway.url, path, {**headers, "content-length": str(HUGE)}, iter(()), chunked=False
    )
    streamed = post_streaming(small_gateway.url, path, headers, lazy_chunks(HUGE))
    for answer in (declared, streamed):
        assert answer.status == 413, answer.body[:300]
        error = answer.json()["error"]
        assert (error["code"], error["status"]) == (413, "INVALID_ARGUMENT")
        assert error["details"][0]["reason"] == "PAYLOAD_TOO_LARGE"
    assert declared.body_bytes_sent == 0 and streamed.body_bytes_sent < READ_BOUND


def test_an_early_answer_does_not_read_the_rest_of_the_body(small_gateway):
    answer = post_streaming(small_gateway.url, "/v1/images/generations", _auth("wrong"), lazy_chunks(HUGE))
    assert answer.status == 401 and answer.headers["connection"] == "close"
    assert answer.body_bytes_sent < READ_BOUND


def test_bodies_within_the_limit_still_work(small_gateway, key):
    # 600 KB: over the 64 KB of small endpoints, within the 1 MB of image calls (JSON allows the padding).
    body = b'{"model": "gpt-image-2", "prompt": "x", "size": "1024x1024", "quality": "low"' + b" " * 600_000 + b"}"
    response = httpx.post(small_gateway.url + "/v1/images/generations", content=body, headers=_auth(key), timeout=30)
    assert response.status_code == 200, response.text


def test_image_calls_past_the_in_flight_limit_get_503_with_retry_after(small_gateway, key, sandbox_url):
    since = time.time() - 0.001
    slow = {"model": "gpt-image-2", "prompt": "x [sandbox:slow=1.5]", "size": "1024x1024", "quality": "low"}
    answers: list[httpx.Response] = []

    def send_slow() -> None:
        answers.append(
            httpx.post(small_gateway.url + "/v1/images/generations", json=slow, headers=_auth(key), timeout=30)
        )

    threads = [threading.Thread(target=send_slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_for_calls_in_flight(sandbox_url, since, 2, "slow")
    quick = {"model": "gpt-image-2", "prompt": "x", "size": "1024x1024", "quality": "low"}
    busy = httpx.post(small_gateway.url + "/v1/images/generations", json=quick, headers=_auth(key))
    google = httpx.post(
        small_gateway.url + "/v1beta/models/gpt-image-2:generateContent",
        json={"contents": [{"parts": [{"text": "x"}]}]},
        headers={"x-goog-api-key": key},
    )
    # Endpoints that carry no images are not counted.
    assert httpx.get(small_gateway.url + "/healthz").status_code == 200
    for thread in threads:
        thread.join(30)
    assert [answer.status_code for answer in answers] == [200, 200]
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "gateway_unavailable"
    assert google.status_code == 503 and google.json()["error"]["status"] == "UNAVAILABLE"
    assert google.headers["retry-after"] == "1"
    # Slots are given back once the calls finish.
    after = httpx.post(small_gateway.url + "/v1/images/generations", json=quick, headers=_auth(key), timeout=30)
    assert after.status_code == 200, after.text


def test_request_bytes_past_the_in_flight_budget_get_503(small_gateway, key):
    # Alone, a 0.9 MB body is within the 1 MB limit; with 0.9 MB already held by a slow upload, the
    # 1.5 MB budget cannot take it.
    boundary = "budget"
    stalled = threading.Event()
    release = threading.Event()

    parts = [
        f'--{boundary}\r\ncontent-disposition: form-data; name="prompt"\r\n\r\n'.encode(),
        b"x" * 900_000,
        f"\r\n--{boundary}--\r\n".encode(),
    ]

    def held_upload() -> Iterator[bytes]:
        yield from parts[:2]
        stalled.set()
        release.wait(10)
        yield parts[2]

    holder_headers = {
        "authorization": f"Bearer {key}",
        "content-type": f"multipart/form-data; boundary={boundary}",
        "content-length": str(sum(len(part) for part in parts)),
    }
    holder: list = []
    thread = threading.Thread(
        target=lambda: holder.append(
            post_streaming(small_gateway.url, "/v1/images/edits", holder_headers, held_upload(), chunked=False)
        )
    )
    thread.start()
    assert stalled.wait(10)
    second = post_streaming(small_gateway.url, "/v1/images/generations", _auth(key), lazy_chunks(900_000, 100_000))
    release.set()
    thread.join(15)
    assert holder[0].status == 400  # it had no image, but it was admitted and read
    assert second.status == 503, second.body[:300]
    assert second.json()["error"]["code"] == "gateway_unavailable" and second.headers["retry-after"] == "1"


def test_an_unterminated_multipart_body_is_reported_as_malformed(small_gateway, key):
    boundary = "cut"
    body = (
        f'--{boundary}\r\ncontent-disposition: form-data; name="prompt"\r\n\r\nadd a hat\r\n'
        f'--{boundary}\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\n'
        "content-type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
    ).encode()
    response = httpx.post(
        small_gateway.url + "/v1/images/edits",
        content=body,
        headers={"authorization": f"Bearer {key}", "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "closing boundary" in error["message"] and "image" not in (error["param"] or "")
