"""The route table: model aliases (what clients send as ``model``) -> provider deployments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from imagegate.domain.errors import MissingParameter, ModelNotFound
from imagegate.providers.base import RouteTarget
from imagegate.routing.policy import Policy
from imagegate.routing.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class ModelAlias:
    """A model name clients use and the routes that serve it, in priority order."""

    name: str
    routes: tuple[RouteTarget, ...]
    description: str | None = None
    policy: Policy = "priority"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Responses API requests for one image may be served from Images routes (docs/responses.md).
    responses_emulation: bool = False


class RouteTable:
    """Alias lookup; immutable, so a live reload swaps the whole table atomically."""

    def __init__(self, aliases: Iterable[ModelAlias]) -> None:
        self._aliases = {alias.name: alias for alias in aliases}

    def resolve(self, name: str | None) -> ModelAlias:
        """The alias called ``name``; ``ModelNotFound`` (param ``model``) otherwise."""
        if name is None or name == "":
            raise MissingParameter("Missing required parameter: 'model'.", param="model")
        alias = self._aliases.get(name)
        if alias is None:
            raise ModelNotFound(f"The model '{name}' does not exist or is not served by this gateway.", param="model")
        return alias

    def aliases(self) -> list[ModelAlias]:
        """Every alias, in configuration order."""
        return list(self._aliases.values())
