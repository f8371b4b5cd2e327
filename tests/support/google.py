"""Gateway configuration and helpers for tests with the sandbox as Google (and OpenAI)."""

from __future__ import annotations

from datetime import date
from typing import Any

from imagegate.catalog import load_catalog
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.pricing.engine import settle
from imagegate.providers.gemini.response import usage_from_gemini

TODAY = date(2026, 11, 21)  # Imagen 4 was shut down on 2026-08-17
BEFORE_IMAGEN_SHUTDOWN = date(2026, 8, 1)
CATALOG = load_catalog()


def google_models_config(sandbox_url: str, *, api_key: str = "AIza-route-secret-77") -> dict[str, Any]:
    """Aliases over the sandbox: Gemini image models, Imagen (replaced and refused), GPT Image."""

    def route(provider: str, model: str, **extra: Any) -> dict[str, Any]:
        base = f"{sandbox_url}/v1" if provider == "openai" else sandbox_url
        return {"provider": provider, "model": model, "base_url": base, "api_key": api_key, "timeout": 30, **extra}

    return {
        "models": [
            {"name": "nano-banana-2", "routes": [route("gemini", "gemini-3.1-flash-image")]},
            {"name": "nano-banana-pro", "routes": [route("gemini", "gemini-3-pro-image")]},
            {"name": "gemini-2.5-flash-image", "routes": [route("gemini", "gemini-2.5-flash-image")]},
            {"name": "gpt-image-2", "routes": [route("openai", "gpt-image-2")]},
            {"name": "gpt-image-1.5", "routes": [route("openai", "gpt-image-1.5")]},
            {"name": "imagen-4", "after_shutdown": "replace", "routes": [route("imagen", "imagen-4.0-generate-001")]},
            {"name": "imagen-4-strict", "routes": [route("imagen", "imagen-4.0-generate-001")]},
        ]
    }


def gemini_charge(
    provider_model: str, usage_metadata: dict[str, Any], *, images: int = 1, operation: str = "generate"
) -> int:
    """The micro-dollars ``pricing.engine.settle`` gives for a Gemini answer, with the catalog row."""
    entry = CATALOG.find("gemini", provider_model)
    assert entry is not None
    request = ImageRequest(operation=operation, model=provider_model, prompt="", dialect="gemini")  # type: ignore[arg-type]
    result = ImageResult(image_count=images, usage=usage_from_gemini(usage_metadata, has_image=images > 0))
    return settle(request, result, entry.price).micros
