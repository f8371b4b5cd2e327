"""The facade transports call: authenticate, plan, serve. Built once by ``app.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from imagegate.accounting.auth import KeyAuthenticator, Principal
from imagegate.domain.request import ImageRequest
from imagegate.providers.registry import AdapterRegistry
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.idempotency import IdempotentRunner
from imagegate.service.images import ImageService
from imagegate.service.plan import FactsLookup, Plan, ReplacementLookup, plan_request


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Input limits the transports enforce before anything reaches a provider."""

    max_body_bytes: int = 64 * 1024 * 1024
    max_image_bytes: int = 50 * 1024 * 1024
    max_images: int = 16
    # Hosts a Responses ``input_image`` may name by URL (``*.example.com`` too); none: data URLs only.
    input_image_hosts: tuple[str, ...] = ()


class Gateway:
    """Everything a dialect needs, behind four calls."""

    def __init__(
        self,
        *,
        routes: RouteTable,
        registry: AdapterRegistry,
        facts: FactsLookup,
        authenticator: KeyAuthenticator,
        images: ImageService,
        limits: RequestLimits,
        today: Callable[[], date] | None = None,
        replacements: ReplacementLookup | None = None,
        idempotency: IdempotentRunner | None = None,
        controls: ControlsHolder | None = None,
    ) -> None:
        self.routes = routes
        self.registry = registry
        self.facts = facts
        self.authenticator = authenticator
        self.images = images
        self.limits = limits
        self.idempotency = idempotency
        # The live routing controls (swapped by the refresher in app.py); None: config only.
        self.controls = controls
        # The clock lifecycle decisions use (UTC days); None disables them (unit tests).
        self.today = today
        self.replacements = replacements

    async def authenticate(self, secret: str | None) -> Principal:
        """The caller behind a presented key."""
        return await self.authenticator.authenticate(secret)

    def plan(self, request_id: str, request: ImageRequest, principal: Principal) -> Plan:
        """Validate and route a request for this caller."""
        return plan_request(
            request_id=request_id,
            request=request,
            principal=principal,
            routes=self.routes,
            registry=self.registry,
            facts=self.facts,
            today=None if self.today is None else self.today(),
            replacements=self.replacements,
        )

    def visible_aliases(self, principal: Principal) -> list[ModelAlias]:
        """The aliases this caller may use."""
        return [alias for alias in self.routes.aliases() if principal.may_use(alias.name)]
