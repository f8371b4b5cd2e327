"""Half-open breakers end to end: probe slots always handed back; every dialect's circuit-open answer."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import httpx
import orjson
import pytest

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import BEFORE_IMAGEN_SHUTDOWN
from tests.support.raw_client import leave_after

COOLDOWN_S = 0.3


def _document(sandbox_url: str, *, cooldown: float) -> dict:
    def route(provider: str, model: str) -> dict:
        base = f"{sandbox_url}/v1" if provider == "openai" else sandbox_url
        return {"provider": provider, "model": model, "base_url": base, "api_key": "k", "timeout": 10}

    retry = {"max_attempts_per_route": 1}
    return {
        "models": [
            {"name": "probed", "retry": retry, "routes": [route("openai", "gpt-image-2")]},
            {"name": "probed-gemini", "retry": retry, "routes": [route("gemini", "gemini-2.5-flash-image")]},
            {"name": "probed-imagen", "retry": retry, "routes": [route("imagen", "imagen-4.0-generate-001")]},
        ],
        "breaker": {"consecutive_failures": 1, "cooldown": cooldown, "half_open_probes": 1},
    }


@pytest.fixture
def probing(sandbox_url, tmp_path):
    """A gateway whose breakers open on one failure and half-open after 0.3 s, one probe at a time."""
    engine = migrated_sqlite_engine(tmp_path / "probes.db")
    with running_gateway(engine, _document(sandbox_url, cooldown=COOLDOWN_S)) as handle:
        yield handle
    engine.dispose()


def _generate(handle: GatewayHandle, key: str, prompt: str, **fields) -> httpx.Response:
    return httpx.post(
        handle.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "probed", "prompt": prompt, "quality": "low", **fields},
        timeout=10,
    )


def _half_open(handle: GatewayHandle, key: str) -> None:
    assert _generate(handle, key, "[sandbox:500] trip").status_code == 502
    time.sleep(COOLDOWN_S + 0.05)


def test_a_request_the_serialiser_refuses_hands_the_probe_back(probing):
    key = probing.create_key(f"nested-{uuid.uuid4().hex[:8]}")
    _half_open(probing, key)
    nested: object = "leaf"
    for _ in range(300):
        nested = {"a": nested}
    refused = _generate(probing, key, "deep", metadata=nested)
    # The caller's own input, refused in its dialect before any provider call: not a bare 500.
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    # The probe slot is free again: clean traffic is served at once, not "circuit open" for 300 s.
    served = _generate(probing, key, "clean")
    assert served.status_code == 200, served.text


def test_a_probe_cancelled_by_its_client_leaving_hands_the_slot_back(probing):
    key = probing.create_key(f"cancel-{uuid.uuid4().hex[:8]}")
    _half_open(probing, key)
    body = orjson.dumps({"model": "probed", "prompt": "[sandbox:slow=3] probe", "quality": "low"})
    leave_after(probing.url, "/v1/images/generations", {"authorization": f"Bearer {key}"}, body, 0.3)
    time.sleep(0.2)  # the cancelled probe hands its slot back
    assert _generate(probing, key, "clean").status_code == 200


def test_probes_beyond_the_configured_number_get_503_with_retry_after(probing):
    key = probing.create_key(f"busy-{uuid.uuid4().hex[:8]}")
    _half_open(probing, key)
    with httpx.Client(timeout=10) as client:
        slow = client.build_request(
            "POST",
            probing.url + "/v1/images/generations",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "probed", "prompt": "[sandbox:slow=0.5] probe", "quality": "low"},
        )
        answers: list[int] = []
        probe = threading.Thread(target=lambda: answers.append(client.send(slow).status_code))
        probe.start()
        time.sleep(0.2)
        meanwhile = _generate(probing, key, "second")
        probe.join()
    assert meanwhile.status_code == 503 and meanwhile.headers["retry-after"] == "1"
    assert answers == [200]
    assert _generate(probing, key, "after").status_code == 200


@pytest.fixture
def tripped(sandbox_url, tmp_path):
    """A gateway whose breakers stay open for a minute once tripped."""
    engine = migrated_sqlite_engine(tmp_path / "tripped.db")
    document = _document(sandbox_url, cooldown=60.0)
    with running_gateway(engine, document, today=lambda: BEFORE_IMAGEN_SHUTDOWN) as handle:
        yield handle
    engine.dispose()


def test_circuit_open_is_503_with_retry_after_in_every_dialect(tripped, caplog):
    key = tripped.create_key(f"open-{uuid.uuid4().hex[:8]}")
    google_headers = {"x-goog-api-key": key}
    gemini = tripped.url + "/v1beta/models/probed-gemini:generateContent"
    imagen = tripped.url + "/v1beta/models/probed-imagen:predict"

    def gemini_body(prompt: str) -> dict:
        return {"contents": [{"parts": [{"text": prompt}]}]}

    def imagen_body(prompt: str) -> dict:
        return {"instances": [{"prompt": prompt}], "parameters": {"sampleCount": 1}}

    assert _generate(tripped, key, "[sandbox:500] trip").status_code == 502
    assert httpx.post(gemini, headers=google_headers, json=gemini_body("[sandbox:500] trip")).status_code == 503
    assert httpx.post(imagen, headers=google_headers, json=imagen_body("[sandbox:500] trip")).status_code == 503
    caplog.set_level(logging.WARNING)
    caplog.clear()

    refused = _generate(tripped, key, "clean")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "circuit_open"
    assert 55 <= int(refused.headers["retry-after"]) <= 60
    for url, body in ((gemini, gemini_body("clean")), (imagen, imagen_body("clean"))):
        answer = httpx.post(url, headers=google_headers, json=body)
        assert answer.status_code == 503 and answer.json()["error"]["status"] == "UNAVAILABLE"
        assert 55 <= int(answer.headers["retry-after"]) <= 60
    lines = [record for record in caplog.records if "circuit open" in record.getMessage()]
    assert len(lines) == 3 and all(record.exc_info is None for record in lines)
