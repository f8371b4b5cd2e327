"""The adapter registry: how core code finds a provider without naming it.

Registering a provider is one line in ``builtin_registry``; nothing else in the core changes.
"""

from __future__ import annotations

from imagegate.domain.errors import InvalidRequest
from imagegate.providers.base import ProviderAdapter


class AdapterRegistry:
    """Provider name -> adapter instance."""

    def __init__(self) -> None:
        self._adapters: dict[str, ProviderAdapter] = {}

    def register(self, adapter: ProviderAdapter) -> None:
        """Add an adapter under its ``name``; a second registration of a name is a bug."""
        if adapter.name in self._adapters:
            raise ValueError(f"provider {adapter.name!r} registered twice")
        self._adapters[adapter.name] = adapter

    def get(self, name: str) -> ProviderAdapter:
        """The adapter for ``name``; ``InvalidRequest`` for an unknown provider (a config error)."""
        adapter = self._adapters.get(name)
        if adapter is None:
            raise InvalidRequest(f"unknown provider {name!r}; known: {', '.join(sorted(self._adapters))}")
        return adapter

    def names(self) -> list[str]:
        """Registered provider names, sorted."""
        return sorted(self._adapters)


def builtin_registry() -> AdapterRegistry:
    """A registry holding every provider that ships with imagegate."""
    from imagegate.providers.bfl import BflAdapter
    from imagegate.providers.fal import FalAdapter
    from imagegate.providers.gemini import GeminiImageAdapter
    from imagegate.providers.google.endpoints import GoogleAccess
    from imagegate.providers.imagen import ImagenAdapter
    from imagegate.providers.openai import OpenAIImagesAdapter
    from imagegate.providers.replicate import ReplicateAdapter
    from imagegate.providers.together import TogetherAdapter

    registry = AdapterRegistry()
    registry.register(OpenAIImagesAdapter())
    google = GoogleAccess()  # one OAuth token cache for both Google adapters
    registry.register(GeminiImageAdapter(google))
    registry.register(ImagenAdapter(google))
    registry.register(BflAdapter())
    registry.register(FalAdapter())
    registry.register(ReplicateAdapter())
    registry.register(TogetherAdapter())
    return registry
