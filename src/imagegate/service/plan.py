"""Planning: which routes can serve this request, with which capabilities and price rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from imagegate.accounting.auth import Principal
from imagegate.catalog.model import Lifecycle
from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ClientError, InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.pricing.rows import PriceRow
from imagegate.providers.base import ProviderAdapter, RouteTarget
from imagegate.providers.registry import AdapterRegistry
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.conform import conform
from imagegate.service.input_checks import check_uploads
from imagegate.service.lifecycle import replacement_target, retired, serving_alias, shutdown_policy
from imagegate.service.responses_plan import emulated_request


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the catalog knows about a provider model (None fields: the catalog doesn't list it)."""

    capabilities: Capabilities | None
    price: PriceRow | None
    lifecycle: Lifecycle | None = None


FactsLookup = Callable[[str, str], ModelFacts]
# (provider of a shut-down model, its replacement's id) -> (provider serving the replacement, facts).
ReplacementLookup = Callable[[str, str], "tuple[str, ModelFacts] | None"]


@dataclass(slots=True)
class PlannedRoute:
    """A route that can honour the request, with everything needed to call and price it."""

    target: RouteTarget
    adapter: ProviderAdapter
    capabilities: Capabilities
    price: PriceRow | None
    # The request as this route receives it (service.conform); None means the plan's request.
    request: ImageRequest | None = None
    # ``n`` split into parallel calls when the model makes fewer images per call; None: one call.
    chunks: tuple[int, ...] | None = None
    # The catalog lifecycle of the model the client's route names (for Deprecation/Sunset headers).
    lifecycle: Lifecycle | None = None
    # The shut-down model this route's replacement stands in for (after_shutdown: replace).
    replaced_from: str | None = None
    # A ``respond`` request's image tool model's price row (the route's ``price`` is the mainline's).
    tool_price: PriceRow | None = None

    def request_for(self, plan_request: ImageRequest) -> ImageRequest:
        """The request to send on this route."""
        return plan_request if self.request is None else self.request


@dataclass(slots=True)
class Plan:
    """A validated request, its caller, and the routes to try in order."""

    request_id: str
    request: ImageRequest
    principal: Principal
    alias: ModelAlias
    routes: list[PlannedRoute]
    # The client asked to stream but no route can stream in its dialect as asked: every route is
    # served whole and the dialect re-emits the result as its stream.
    emulated_stream: bool = False
    # An admin pinned the request to one route (debugging): only that route is tried.
    pinned_route: str | None = None


def plan_request(
    *,
    request_id: str,
    request: ImageRequest,
    principal: Principal,
    routes: RouteTable,
    registry: AdapterRegistry,
    facts: FactsLookup,
    today: date | None = None,
    replacements: ReplacementLookup | None = None,
) -> Plan:
    """Resolve the alias, check the key may use it, keep the routes that can honour the request.

    Uploaded files are checked first (service.input_checks). A route whose model is shut down
    (as of ``today``) is refused or replaced (service.lifecycle); each remaining route gets its own conformed copy of the request (service.conform). A route
    that cannot honour the request is skipped, not called; when none can, the first route's
    reason is the error the client sees (it names the parameter).
    """
    principal.check_endpoint(request.dialect, request.operation)
    alias = routes.resolve(request.model)
    principal.check_model(alias.name)
    check_uploads(request)  # the same for every route: refused once, before any is considered
    first_error: ClientError | None = None
    candidates: list[tuple[RouteTarget, ModelFacts, str | None]] = []
    for target in alias.routes:
        model_facts = facts(target.provider, target.model)
        lifecycle = model_facts.lifecycle
        policy = None if today is None else shutdown_policy(target, lifecycle, today)
        if policy is None:
            candidates.append((target, model_facts, None))
            continue
        assert lifecycle is not None
        replacement = lifecycle.replacement
        found = None
        if policy == "replace" and replacement is not None and replacements is not None:
            found = replacements(target.provider, replacement)
        if found is None or replacement is None:
            if first_error is None:
                unavailable = policy == "replace"
                served_as = None if unavailable else serving_alias(routes, lifecycle.replacement)
                first_error = retired(target, lifecycle, unavailable_replacement=unavailable, served_as=served_as)
            continue
        provider, replacement_facts = found
        replaced = replacement_target(target, provider, replacement)
        candidates.append((replaced, dataclasses.replace(replacement_facts, lifecycle=lifecycle), target.model))

    resolved = []
    for target, model_facts, replaced_from in candidates:
        adapter = registry.get(target.provider)
        capabilities = model_facts.capabilities
        if capabilities is None:
            capabilities = adapter.default_capabilities
        resolved.append((target, model_facts, replaced_from, adapter, capabilities))
    responding = request.operation == "respond"
    if responding:
        # A Responses stream falls back only across routes that speak it; emulated ones answer whole.
        native = [entry for entry in resolved if entry[3].speaks_responses]
        resolved = native if request.stream and native else resolved
        emulate = request.stream and not native
    else:
        # Stream natively only when every route can produce the client's own stream as asked.
        emulate = request.stream and any(
            adapter.dialect != request.dialect or (request.n is not None and request.n > caps.max_n)
            for _, _, _, adapter, caps in resolved
        )
    planned: list[PlannedRoute] = []
    for target, model_facts, replaced_from, adapter, capabilities in resolved:
        try:
            if responding and adapter.speaks_responses:
                assert request.tool_model is not None
                tool_price = facts(target.provider, request.tool_model).price
                planned.append(
                    PlannedRoute(
                        target,
                        adapter,
                        capabilities,
                        model_facts.price,
                        request=request,
                        lifecycle=model_facts.lifecycle,
                        replaced_from=replaced_from,
                        tool_price=tool_price,
                    )
                )
                continue
            route_request = emulated_request(request, alias) if responding else request
            conformed = conform(route_request, adapter, capabilities, target.model, emulate_stream=emulate)
            adapter.validate(conformed.request, capabilities)
        except InvalidRequest as error:
            if first_error is None:
                first_error = error
            continue
        planned.append(
            PlannedRoute(
                target,
                adapter,
                capabilities,
                model_facts.price,
                request=conformed.request,
                chunks=conformed.chunks,
                lifecycle=model_facts.lifecycle,
                replaced_from=replaced_from,
            )
        )
    if not planned:
        assert first_error is not None
        raise first_error
    return Plan(
        request_id=request_id,
        request=request,
        principal=principal,
        alias=alias,
        routes=planned,
        emulated_stream=emulate,
    )
