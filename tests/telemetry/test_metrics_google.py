"""The Google dialects are counted like OpenAI's; a prompt Google blocks is answered 200 (Google's way)
but counted as ``moderation_blocked``, from its attempt."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway
from tests.support.google import TODAY, google_models_config
from tests.support.metrics import samples, value


def test_gemini_and_imagen_requests_are_counted_with_their_outcome(sandbox_url: str, tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    with running_gateway(engine, google_models_config(sandbox_url), today=lambda: TODAY) as gateway:
        key = gateway.create_key("google-metrics")

        def call(model: str, method: str, body: dict) -> httpx.Response:
            url = f"{gateway.url}/v1beta/models/{model}:{method}"
            return httpx.post(url, json=body, headers={"x-goog-api-key": key}, timeout=30)

        ok = call("nano-banana-2", "generateContent", {"contents": [{"parts": [{"text": "a fox"}]}]})
        blocked = call(
            "nano-banana-2", "generateContent", {"contents": [{"parts": [{"text": "x [sandbox:moderation]"}]}]}
        )
        predicted = call("imagen-4", "predict", {"instances": [{"prompt": "a fox"}], "parameters": {"sampleCount": 2}})
        assert [ok.status_code, blocked.status_code, predicted.status_code] == [200, 200, 200]
        found = samples(httpx.get(gateway.url + "/metrics").text)
    engine.dispose()
    requests = "imagegate_requests_total"
    assert value(found, requests, model="nano-banana-2", team="none", outcome="ok") == 1
    assert value(found, requests, model="nano-banana-2", team="none", outcome="moderation_blocked") == 1
    assert value(found, requests, model="imagen-4", team="none", outcome="ok") == 1
    images = {labels: count for (name, labels), count in found.items() if name == "imagegate_images_total"}
    assert sum(images.values()) == 3  # one Gemini image, two for the Imagen client (served by its replacement)
