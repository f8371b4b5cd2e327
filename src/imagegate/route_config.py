"""Route tables and model facts built from the operator's config and the catalog (for ``app.py`` and the CLI).

Kept apart from the composition root so the CLI's read-only commands (``routes``, ``smoke``)
can build the same table without starting a gateway.
"""

from __future__ import annotations

from typing import Any

from imagegate.catalog import Catalog
from imagegate.config.file import GatewayConfig, ModelConfig, RouteConfig
from imagegate.providers.base import RouteTarget
from imagegate.providers.registry import AdapterRegistry
from imagegate.routing.retry import RetryPolicy
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.lifecycle import AFTER_SHUTDOWN_OPTION
from imagegate.service.plan import FactsLookup, ModelFacts, ReplacementLookup


def build_route_table(config: GatewayConfig) -> RouteTable:
    """Aliases and their routes from the config file; route names are unique per alias."""
    aliases = []
    for model in config.models:
        targets = []
        seen: set[str] = set()
        for index, route in enumerate(model.routes, start=1):
            name = route.name if route.name is not None else f"{model.name}/{route.provider}/{route.model}"
            if name in seen:
                name = f"{name}#{index}"
            seen.add(name)
            targets.append(
                RouteTarget(
                    name=name,
                    alias=model.name,
                    provider=route.provider,
                    model=route.model,
                    base_url=route.base_url,
                    api_key=route.api_key,
                    timeout_s=route.timeout,
                    options=_route_options(route, model),
                    weight=route.weight,
                    enabled=route.enabled,
                )
            )
        retry = RetryPolicy(
            max_attempts_per_route=model.retry.max_attempts_per_route,
            base_delay_s=model.retry.base_delay,
            max_delay_s=model.retry.max_delay,
            deadline_s=model.deadline,
            fallback_on_moderation=model.retry.fallback_on_moderation,
        )
        aliases.append(
            ModelAlias(
                name=model.name,
                routes=tuple(targets),
                description=model.description,
                policy=model.policy,
                retry=retry,
                responses_emulation=model.responses_emulation,
            )
        )
    return RouteTable(aliases)


def _route_options(route: RouteConfig, model: ModelConfig) -> dict[str, Any]:
    options = dict(route.options)
    after_shutdown = route.after_shutdown if route.after_shutdown is not None else model.after_shutdown
    if after_shutdown is not None:
        options[AFTER_SHUTDOWN_OPTION] = after_shutdown
    return options


def facts_from_catalog(catalog: Catalog) -> FactsLookup:
    """A lookup the planner uses: (provider, model id) -> capabilities, price row and lifecycle."""

    def lookup(provider: str, model: str) -> ModelFacts:
        entry = catalog.find(provider, model)
        if entry is None:
            return ModelFacts(capabilities=None, price=None)
        return ModelFacts(capabilities=entry.capabilities, price=entry.price, lifecycle=entry.lifecycle)

    return lookup


def replacements_from_catalog(catalog: Catalog, registry: AdapterRegistry) -> ReplacementLookup:
    """(provider, replacement id) -> who serves the replacement: the same provider if it lists the
    model, else the one registered provider whose catalog row has that id (Imagen -> Gemini)."""
    facts = facts_from_catalog(catalog)

    def lookup(provider: str, model: str) -> tuple[str, ModelFacts] | None:
        if catalog.find(provider, model) is not None:
            return provider, facts(provider, model)
        owners = [name for name in registry.names() if catalog.find(name, model) is not None]
        return (owners[0], facts(owners[0], model)) if len(owners) == 1 else None

    return lookup
