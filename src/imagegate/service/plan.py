"""Planning: which routes can serve this request, with which capabilities and price rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imagegate.accounting.auth import Principal
from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.pricing.rows import PriceRow
from imagegate.providers.base import ProviderAdapter, RouteTarget
from imagegate.providers.registry import AdapterRegistry
from imagegate.routing.table import ModelAlias, RouteTable


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the catalog knows about a provider model (None fields: the catalog doesn't list it)."""

    capabilities: Capabilities | None
    price: PriceRow | None


FactsLookup = Callable[[str, str], ModelFacts]


@dataclass(slots=True)
class PlannedRoute:
    """A route that can honour the request, with everything needed to call and price it."""

    target: RouteTarget
    adapter: ProviderAdapter
    capabilities: Capabilities
    price: PriceRow | None


@dataclass(slots=True)
class Plan:
    """A validated request, its caller, and the routes to try in order."""

    request_id: str
    request: ImageRequest
    principal: Principal
    alias: ModelAlias
    routes: list[PlannedRoute]


def plan_request(
    *,
    request_id: str,
    request: ImageRequest,
    principal: Principal,
    routes: RouteTable,
    registry: AdapterRegistry,
    facts: FactsLookup,
) -> Plan:
    """Resolve the alias, check the key may use it, keep the routes that can honour the request.

    A route that cannot honour the request is skipped, not called; when none can, the first
    route's reason is the error the client sees (it names the parameter).
    """
    alias = routes.resolve(request.model)
    principal.check_model(alias.name)
    planned: list[PlannedRoute] = []
    first_error: InvalidRequest | None = None
    for target in alias.routes:
        adapter = registry.get(target.provider)
        model_facts = facts(target.provider, target.model)
        capabilities = model_facts.capabilities
        if capabilities is None:
            capabilities = getattr(adapter, "default_capabilities", Capabilities())
        try:
            adapter.validate(request, capabilities)
        except InvalidRequest as error:
            if first_error is None:
                first_error = error
            continue
        planned.append(PlannedRoute(target, adapter, capabilities, model_facts.price))
    if not planned:
        assert first_error is not None
        raise first_error
    return Plan(request_id=request_id, request=request, principal=principal, alias=alias, routes=planned)
