"""The facade transports call: authenticate, plan, serve. Built once by ``app.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from imagegate.accounting.auth import KeyAuthenticator, Principal
from imagegate.domain.image_store import ImageStore
from imagegate.domain.request import ImageRequest
from imagegate.domain.tags import Tags, merge_tags
from imagegate.providers.registry import AdapterRegistry
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.idempotency import IdempotentRunner
from imagegate.service.images import ImageService
from imagegate.service.plan import FactsLookup, Plan, ReplacementLookup, plan_request
from imagegate.service.request_facts import note_request, note_team


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
        image_store: ImageStore | None = None,
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
        # Where images are kept for URL responses; None: images are only ever returned inline.
        self.image_store = image_store

    @property
    def storage_available(self) -> bool:
        """True when the gateway can store images and hand out URLs (``response_format: url``)."""
        return self.image_store is not None

    async def authenticate(self, secret: str | None, *, tags: Tags = ()) -> Principal:
        """The caller behind a presented key, with the request's own ``tags`` added to its key's."""
        principal = await self.authenticator.authenticate(secret)
        note_team(principal.team_name)
        if len(tags) == 0:
            return principal
        return dataclasses.replace(principal, tags=merge_tags(principal.tags, tags))

    def plan(self, request_id: str, request: ImageRequest, principal: Principal) -> Plan:
        """Validate and route a request for this caller."""
        note_request(request_id, request.model)
        plan = plan_request(
            request_id=request_id,
            request=request,
            principal=principal,
            routes=self.routes,
            registry=self.registry,
            facts=self.facts,
            today=None if self.today is None else self.today(),
            replacements=self.replacements,
        )
        note_request(request_id, plan.alias.name)
        return plan

    def visible_aliases(self, principal: Principal) -> list[ModelAlias]:
        """The aliases this caller may use."""
        return [alias for alias in self.routes.aliases() if principal.may_use(alias.name)]
