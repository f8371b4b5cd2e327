"""After a model's catalog shutdown date: refused with a replacement only if the gateway serves one,
or kept alive by the operator's one-line ``after_shutdown: keep``. Real gateway, sandbox, ``openai`` SDK."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway

AFTER_GPT_IMAGE_15_SHUTDOWN = date(2026, 12, 6)  # the catalog says 2026-12-01, replacement gpt-image-2.5-sunburst


def _route(sandbox_url: str, model: str) -> dict[str, object]:
    return {"provider": "openai", "model": model, "base_url": f"{sandbox_url}/v1", "api_key": "sk-sandbox"}


def test_keep_serves_a_shut_down_model_and_refuse_names_only_a_servable_replacement(sandbox_url: str, tmp_path: Path):
    config = {
        "models": [
            {"name": "kept", "after_shutdown": "keep", "routes": [_route(sandbox_url, "gpt-image-1.5")]},
            {"name": "refused", "routes": [_route(sandbox_url, "gpt-image-1.5")]},
            {"name": "mini", "routes": [_route(sandbox_url, "gpt-image-1-mini")]},
            {"name": "sunburst", "routes": [_route(sandbox_url, "gpt-image-2.5-sunburst")]},
        ]
    }
    engine = migrated_sqlite_engine(tmp_path / "gateway.db")
    with running_gateway(engine, config, today=lambda: AFTER_GPT_IMAGE_15_SHUTDOWN) as gateway:
        client = OpenAI(base_url=gateway.url + "/v1", api_key=gateway.create_key("k"), max_retries=0)
        kept = client.images.with_raw_response.generate(model="kept", prompt="a fox", quality="low")
        assert kept.http_response.status_code == 200
        [row] = gateway.ledger(kept.headers["x-request-id"])
        assert (row.status, row.provider_model) == ("ok", "gpt-image-1.5")

        with pytest.raises(openai.APIStatusError) as refused:
            client.images.generate(model="refused", prompt="a fox", quality="low")
        assert refused.value.status_code == 410
        assert "shut down by its provider on 2026-12-01. Use 'sunburst' instead." in refused.value.message

        with pytest.raises(openai.APIStatusError) as no_replacement:
            client.images.generate(model="mini", prompt="a fox", quality="low")
        assert no_replacement.value.status_code == 410 and "instead" not in no_replacement.value.message
    engine.dispose()


def test_without_the_servable_replacement_the_refusal_does_not_send_clients_to_a_model_they_cannot_use(
    sandbox_url: str, tmp_path: Path
):
    config = {"models": [{"name": "refused", "routes": [_route(sandbox_url, "gpt-image-1.5")]}]}
    engine = migrated_sqlite_engine(tmp_path / "gateway.db")
    with running_gateway(engine, config, today=lambda: AFTER_GPT_IMAGE_15_SHUTDOWN) as gateway:
        client = OpenAI(base_url=gateway.url + "/v1", api_key=gateway.create_key("k"), max_retries=0)
        with pytest.raises(openai.APIStatusError) as refused:
            client.images.generate(model="refused", prompt="a fox", quality="low")
        assert refused.value.status_code == 410
        assert "gpt-image-2.5-sunburst" not in refused.value.message
    engine.dispose()
