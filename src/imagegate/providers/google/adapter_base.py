"""What the Gemini and Imagen adapters share: Google access (API key or Vertex OAuth), the
parameter-table check, and start-up validation of a route's options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.request import ImageRequest
from imagegate.providers.base import ProviderAdapter, RouteTarget, WireRequest
from imagegate.providers.google.endpoints import GoogleAccess
from imagegate.providers.http import HttpExecutor
from imagegate.providers.mapping import ParameterTable
from imagegate.providers.validation import validate_request


class GoogleAdapterBase(ProviderAdapter):
    """Base for adapters of Google's image APIs; subclasses declare ``parameters``."""

    parameters: ClassVar[ParameterTable]

    def __init__(self, access: GoogleAccess | None = None) -> None:
        self.access = access if access is not None else GoogleAccess()

    def validate(self, request: ImageRequest, capabilities: Capabilities) -> None:
        """Reject what the model cannot honour, naming the client's parameter."""
        self.parameters.apply(request, request.model)  # fields with no equivalent here, with the reason
        validate_request(request, capabilities, request.model)

    def validate_route(self, route: RouteTarget) -> None:
        """Check the route's options (and read its service-account key) at startup."""
        self.access.endpoint(route)

    async def authorize(self, wire: WireRequest, route: RouteTarget, http: HttpExecutor) -> None:
        """Add the OAuth bearer token on service-account (Vertex) routes."""
        await self.access.authorize(wire, route, http)

    def provider_request_id(self, headers: Mapping[str, str], body: Mapping[str, Any] | None = None) -> str | None:
        """Gemini's ``responseId`` from the body; else the ``x-request-id`` header (an Imagen body has no id)."""
        response_id = None if body is None else body.get("responseId")
        return response_id if isinstance(response_id, str) else headers.get("x-request-id")
